"""The README's and docs' code blocks run as written, so the documentation cannot drift from the code.

Each section (`## ` heading) of the README, and each page of docs/ as a whole, runs in a fresh working directory (a copy of specs/, the repository's
examples/ and docs/, and the virtualenv as .venv), block by block in order, as a reader following along would:
- ```sh blocks run in bash (`set -euo pipefail`) and must exit 0;
- ```python blocks run in one namespace per document;
- a ```yaml block that is a spec (it has `layers` or `extends`) is written to specs/ and validated;
- a block whose first line starts with `$ ` is a transcript: the command's output must be the rest of the block;
- `<!-- excerpt: COMMAND -->` before a block: every line of the block is a line of COMMAND's output;
- `<!-- illustrative: WHY -->` before a block: not run (the reason is in the document).
Other blocks (text, trees, CI configuration) are prose. The files a reader brings along (deploy.prototxt,
trained.pt, mynet.pt) are made by `_users_files` for the sections that name them. Sections are independent, so they
run in parallel under pytest-xdist.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*(?P<kind>illustrative|excerpt):\s*(?P<value>.*?)\s*-->\s*$")
DOCUMENTS = [ROOT / "README.md", *sorted(path for path in (ROOT / "docs").glob("*.md") if path.name != "spec.md")]


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    language: str
    body: str
    marker: tuple[str, str] | None
    section: str = ""  # the `## ` heading above the block ("" before the first)

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def blocks_of(document: Path) -> list[Block]:
    text = document.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        indent = len(match["indent"])
        body = "\n".join(row[indent:] for row in match["body"].splitlines())
        headings = re.findall(r"^## (.+)$", text[:match.start()], re.M)
        blocks.append(Block(document, line, match["info"].strip().split(" ")[0],
                            body, (marker["kind"], marker["value"]) if marker else None, headings[-1] if headings else ""))
    return blocks


# The README's sections each start from the checkout, so they run on their own (and in parallel); the pages of docs/
# are tutorials, read top to bottom, so each runs whole.
SECTIONED = ("README.md",)
SECTIONS = [(document, section) for document in DOCUMENTS
            for section in (dict.fromkeys(block.section for block in blocks_of(document))
                            if document.name in SECTIONED else [None])]


def _workspace(tmp_path: Path) -> Path:
    """A reader's working directory: their own copy of specs/, the rest of the checkout as it is."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    for name in ("examples", "docs"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    return tmp_path


def _environment(workspace: Path) -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    python_path = os.pathsep.join([str(workspace), str(ROOT)])
    return {**os.environ, "PATH": path, "PYTHONPATH": python_path, "NO_COLOR": "1", "COLUMNS": "200",
            "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}


def _users_files(workspace: Path, text: str) -> None:
    """What the documents assume a reader has, where `text` names it: a Caffe deploy file (Caffe's LeNet), a Caffe
    network with its .caffemodel, and trained state dicts."""
    import torch

    import alexnet_spec
    from alexnet_spec.interop.caffe import import_prototxt
    from tests.interop.caffe_models import LENET

    (workspace / "deploy.prototxt").write_text(LENET, encoding="utf-8")
    if "tiny_alexnet" in text:  # a Caffe network and its .caffemodel, made with BVLC's caffe.proto
        for suffix in (".prototxt", ".caffemodel"):
            shutil.copy(ROOT / "tests" / "interop" / "fixtures" / "caffemodel" / f"tiny_alexnet{suffix}", workspace)
    if "lenet_train_test.prototxt" in text:  # BVLC's own train_test file
        shutil.copy(ROOT / "tests" / "interop" / "fixtures" / "caffe" / "mnist__lenet_train_test.prototxt",
                    workspace / "lenet_train_test.prototxt")
    (workspace / "mynet_from_deploy.yaml").write_text(import_prototxt(workspace / "deploy.prototxt"), encoding="utf-8")
    torch.manual_seed(0)
    for spec, weights in (("mynet_from_deploy.yaml", "mynet.pt"), ("specs/alexnet.yaml", "trained.pt")):
        if weights in text:
            model = alexnet_spec.build(alexnet_spec.load(workspace / spec), backend="torch")
            torch.save(model.state_dict(), workspace / weights)


def _run_shell(script: str, workspace: Path, block: Block) -> str:
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=workspace,
                            env=_environment(workspace), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{block.where}: exit {result.returncode}\n{result.stdout[-3000:]}\n" \
                                   f"{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def _is_spec(body: str):
    data = YAML(typ="safe", pure=True).load(body)
    return isinstance(data, dict) and ("layers" in data or "extends" in data)


def _run_block(block: Block, workspace: Path, namespace: dict, index: int) -> None:
    if block.marker and block.marker[0] == "illustrative":
        return
    if block.marker and block.marker[0] == "excerpt":
        output = _run_shell(block.marker[1], workspace, block).splitlines()
        present = {line.strip() for line in output}
        missing = [line for line in block.body.splitlines() if line.strip() and line.strip() not in present]
        assert not missing, f"{block.where}: not in the output of {block.marker[1]!r}: {missing}"
        return
    first = block.body.split("\n", 1)[0]
    if first.startswith("$ "):
        output = _run_shell(first[2:] + " || true", workspace, block)
        expected = block.body.split("\n", 1)[1] if "\n" in block.body else ""
        assert output.strip("\n") == expected.strip("\n"), f"{block.where}: the transcript differs:\n{output}"
    elif block.language in ("sh", "bash", "shell"):
        _run_shell(block.body, workspace, block)
    elif block.language == "python":
        exec(compile(block.body, f"{block.where} (python block)", "exec"), namespace)
    elif block.language == "yaml" and _is_spec(block.body):
        spec = workspace / "specs" / f"_docs_block_{index}.yaml"
        spec.write_text(block.body, encoding="utf-8")
        _run_shell(f"alexspec validate {spec.relative_to(workspace)}", workspace, block)


@pytest.mark.slow
@pytest.mark.parametrize("document, section", SECTIONS,
                         ids=[f"{document.name}: {section or 'top'}" if section is not None else document.name
                              for document, section in SECTIONS])
def test_code_blocks_run_as_written(document: Path, section: str | None, tmp_path: Path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    blocks = [block for block in blocks_of(document) if section is None or block.section == section]
    workspace = _workspace(tmp_path)
    _users_files(workspace, "\n".join(block.body for block in blocks))
    monkeypatch.chdir(workspace)
    monkeypatch.syspath_prepend(str(workspace))
    namespace: dict = {"__name__": "__docs__"}
    for index, block in enumerate(blocks):
        _run_block(block, workspace, namespace, index)


def test_every_runnable_language_is_run_or_marked():
    """A new ```console or ```py block would silently escape the test: name the languages that run."""
    known = {"sh", "bash", "shell", "python", "yaml", "text", ""}
    for document in DOCUMENTS:
        for block in blocks_of(document):
            assert block.language in known, f"{block.where}: a ```{block.language} block is neither run nor prose"
