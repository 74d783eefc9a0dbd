"""backends/ installs as alexnet_spec.backends, in an editable and in a regular install."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PROBE = ("import sys, json, alexnet_spec, alexnet_spec.backends as b; "
         "print(json.dumps({'core': alexnet_spec.__file__, 'backends': b.__file__, 'names': b.available()}))")


def probe(extra_path: Path | None = None) -> dict:
    import json

    code = (f"import sys; sys.path.insert(0, {str(extra_path)!r}); " if extra_path else "") + PROBE
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_editable_install_maps_backends_into_the_package():
    found = probe()
    assert Path(found["backends"]) == ROOT / "backends" / "__init__.py"
    assert Path(found["core"]) == ROOT / "alexnet_spec" / "__init__.py"


@pytest.mark.slow
def test_regular_install_has_no_top_level_backends(tmp_path):
    # From a copy of the tracked files: a build/ folder left in the checkout could hold files the package lost.
    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    target = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                             "--target", str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert not (target / "backends").exists()
    assert (target / "alexnet_spec" / "backends" / "__init__.py").is_file()
    found = probe(target)
    assert Path(found["backends"]) == target / "alexnet_spec" / "backends" / "__init__.py"
    assert Path(found["core"]).is_relative_to(target)
    for name in found["names"]:
        assert (target / "alexnet_spec" / "backends" / name / "__init__.py").is_file()
    for templates in ("backends/torch/templates/module.jinja", "backends/jax/templates/module.jinja",
                      "backends/torch/templates/helpers/lrn.jinja", "backends/jax/templates/helpers/conv.jinja",
                      "tools/templates/architecture.svg.jinja"):
        assert (target / "alexnet_spec" / templates).is_file(), f"{templates} is missing from the wheel"
