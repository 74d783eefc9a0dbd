"""The code-generating backends read as translations of each other (issue 18, item 3): the same module names doing
the same jobs, the same template names (module, model, one per layer kind), helper functions under
templates/helpers/, and what they share in backends/common/ instead of a copy in each."""

from __future__ import annotations

import ast
import filecmp
from pathlib import Path

import pytest

from tests.conftest import ROOT

BACKENDS = ROOT / "backends"
GENERATING = ("torch", "jax")
IGNORED = ["__pycache__"]
LAYER_KINDS = ("conv", "dense", "pool", "adaptive_avgpool", "lrn", "batchnorm", "dropout", "flatten", "activation")


def _one_sided(left: Path, right: Path) -> list[str]:
    """Every file or folder in only one of the two folders, recursively, except under templates/helpers/ (each
    backend emits the helper functions its own code calls, e.g. jax's conv2d, torch's LocalResponseNorm)."""
    differences = []

    def walk(comparison: filecmp.dircmp, relative: Path) -> None:
        differences.extend(f"only in {left.name}: {relative / name}" for name in comparison.left_only)
        differences.extend(f"only in {right.name}: {relative / name}" for name in comparison.right_only)
        for name, sub in comparison.subdirs.items():
            if relative / name != Path("templates/helpers"):
                walk(sub, relative / name)

    walk(filecmp.dircmp(left, right, ignore=IGNORED), Path())
    return differences


def test_backend_folders_have_the_same_modules_and_templates():
    differences = _one_sided(BACKENDS / "torch", BACKENDS / "jax")
    assert not differences, "backends/torch and backends/jax differ in layout:\n" + "\n".join(differences)


@pytest.mark.parametrize("backend", GENERATING)
def test_each_backend_has_the_shared_roles(backend):
    folder = BACKENDS / backend
    modules = {path.name for path in folder.glob("*.py")}
    assert {"__init__.py", "view.py", "layers.py", "initialisation.py", "placement.py", "weights.py", "build.py",
            "evaluate.py"} <= modules
    templates = {path.stem for path in (folder / "templates").glob("*.jinja")}
    assert {"module", "model", *LAYER_KINDS} <= templates
    assert (folder / "templates" / "helpers").is_dir()


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("backend", GENERATING)
def test_environment_and_aligner_are_shared(backend):
    """Only backends/common/ makes a Jinja environment; no backend re-parses generated code with regular
    expressions (issue 18, item 4: statements carry their fields until the last step formats them)."""
    for path in sorted((BACKENDS / backend).glob("*.py")):
        imported = _imported_modules(path)
        assert "jinja2" not in imported, f"{path.relative_to(ROOT)} builds its own Jinja environment"
        assert "re" not in imported, f"{path.relative_to(ROOT)} parses text with regular expressions"
