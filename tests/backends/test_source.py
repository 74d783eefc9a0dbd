"""backends/common/source.py: spec text (description, source, file path, names, `--set` values) can never break or inject
code in any backend's generated module; the header's "Regenerate with:" line reruns the command that made the file;
built modules show their generated lines in uncaught tracebacks."""

from __future__ import annotations

import ast
import dataclasses
import io
import keyword
import os
import shlex
import subprocess
import sys
import textwrap
import tokenize
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alexnet_spec
from alexnet_spec.backends.jax.view import render as render_jax
from alexnet_spec.backends.torch.view import render as render_torch
from alexnet_spec.backends.common.source import escape_text, load_source
from alexnet_spec.passes import resolve
from alexnet_spec.spec.network import NetworkSpec
from alexnet_spec.spec.types import RESERVED_NAMES
from tests.conftest import ROOT

RENDERERS = {"torch": render_torch, "jax": render_jax}  # rendering imports neither framework

# Fragments that end or escape Python strings and comments, split lines (for Python, or only for str.splitlines and
# linecache), switch the source encoding, or look like template syntax.
NASTY = ['"""', "'''", '"', "'", "\\", "\\N{", "\\x", "\r", "\n", "\r\n", "\x00", "\x0b", "\x0c", "\x1b", "\x7f",
         "\x85", "\u2028", "\u2029", "\ufeff", "\ud800", "\U000e0001", "{{ x }}", "{% raw %}", "{#", "# ", "\t",
         "\n# -*- coding: utf-7 -*-\n", "+ACIAIgAi-", "\nimport os\n", "__import__('os').system('exit 1')"]
hostile_text = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(NASTY)), max_size=6).map("".join)


def _usable_name(name: str) -> bool:
    """A name the spec accepts (spec/types.py's rule) and that Python does not NFKC-normalise into another."""
    return (name.isidentifier() and not keyword.iskeyword(name) and name not in RESERVED_NAMES
            and not name.startswith("_") and unicodedata.normalize("NFKC", name) == name)


identifiers = st.text(st.characters(categories=("Lu", "Ll", "Lo", "Nd", "Pc")), min_size=1, max_size=6).filter(
    _usable_name)


def network(names, description="", source="", file="<spec>", overrides=()):
    """A small placed network (two devices: split conv, one-device dense) whose text comes from the test."""
    conv, relu, pool, flatten, dense, first, second = names
    spec = {"name": "Hostile", "description": description, "source": source,
            "input": {"channels": 2, "height": 6, "width": 6}, "devices": [first, second],
            "layers": [{"name": conv, "type": "conv", "out_channels": 4, "kernel": 3},
                       {"name": relu, "type": "relu"},
                       {"name": pool, "type": "maxpool", "kernel": 2},
                       {"name": flatten, "type": "flatten"},
                       {"name": dense, "type": "dense", "out_features": 2, "placement": first}]}
    return dataclasses.replace(resolve(NetworkSpec.model_validate(spec), file), overrides=tuple(overrides))


def without_docstring(tree: ast.Module) -> str:
    first = tree.body[0]
    assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    return ast.dump(ast.Module(body=tree.body[1:], type_ignores=[]))


def docstring_lines(source: str) -> list[str]:
    """What each source line of the module docstring says, read by Python one line at a time: a text that escaped
    its line would not read back whole."""
    lines = source.split("\n")
    assert lines[0].startswith('"""')
    end = lines.index('"""')
    return [ast.literal_eval(f'"""{line}"""') for line in [lines[0][3:]] + lines[1:end]]


def comments(source: str) -> list[str]:
    return [token.string for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT]


@given(names=st.lists(identifiers, min_size=7, max_size=7, unique=True), description=hostile_text,
       source=hostile_text, file=hostile_text, overrides=st.lists(hostile_text, max_size=2))
def test_spec_text_never_breaks_or_injects_code(names, description, source, file, overrides):
    """Whatever the description, source, file path, `--set` values and (identifier) names: both backends' source
    parses, as text and as the UTF-8 file `alexspec compile` writes (coding cookies honoured); its code and comments
    are exactly those of the same network without any of that text (so importing it defines the model and nothing
    else); and its docstring reads back each text as it is."""
    net = network(names, description, source, file, overrides)
    plain = network(names)
    for backend, render in RENDERERS.items():
        generated = render(net)
        tree = ast.parse(generated)
        assert ast.dump(ast.parse(generated.encode("utf-8"))) == ast.dump(tree)
        expected = render(plain)
        assert without_docstring(tree) == without_docstring(ast.parse(expected))
        assert comments(generated) == comments(expected)
        # Every line is where it would be: the header gained only its Regenerate and Source lines.
        assert len(generated.splitlines()) == (len(expected.splitlines()) + (not file.startswith("<"))
                                               + bool(source))

        lines = docstring_lines(generated)
        assert "\n".join(lines) + "\n" == ast.get_docstring(tree, clean=False)
        shown = description.strip()
        assert lines[0] == (f"Hostile: {shown}" if shown else "Hostile, generated by alexspec.")
        assert lines[2] == (f"Generated by alexspec {alexnet_spec.__version__} from {file} (resolved spec "
                            f"{net.spec_hash}); do not edit.")
        assert (f"Source: {source}" in lines) == bool(source)
        regenerate = [line for line in lines if line.startswith("Regenerate with: ")]
        if file.startswith("<"):
            assert not regenerate
        else:
            words = ["alexspec", "compile", file, "--backend", backend]
            for override in overrides:
                words += ["--set", override]
            assert [shlex.split(line.removeprefix("Regenerate with: ")) for line in regenerate] == [words]


@given(hostile_text)
def test_escaped_text_reads_back_inside_a_docstring_and_stays_on_its_line(text):
    escaped = escape_text(text)
    assert ast.literal_eval(f'"""{escaped}"""') == text  # Python's own reading, closing quotes right after it
    assert len(f"# {escaped}".splitlines()) == 1 and escaped.isprintable()


# Item 15: the header's command reruns the same compile, overrides and awkward paths included.

def test_regenerate_line_reruns_the_command_with_its_overrides(tmp_path):
    folder = tmp_path / "my specs"
    folder.mkdir()
    (folder / "it's.yaml").write_text((ROOT / "specs" / "lenet5.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    # Values a shell would split, expand or end: spaces, quotes, $, `, ;, &, and a glob.
    overrides = ["description=It's a \"LeNet\" & more; $HOME `id` *", "source=O'Neil (1998) | tee x"]
    command = [sys.executable, "-m", "alexnet_spec", "compile", "it's.yaml", "--backend", "jax"]
    for override in overrides:
        command += ["--set", override]
    first = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=120, check=True).stdout
    line = next(line for line in first.splitlines() if line.startswith("Regenerate with: "))
    # The line as printed, run by a shell, where `alexspec` is this interpreter's entry point.
    shell_line = line.removeprefix("Regenerate with: ").replace("alexspec", shlex.quote(sys.executable) +
                                                                " -m alexnet_spec", 1)
    again = subprocess.run(["/bin/sh", "-c", shell_line], cwd=folder, capture_output=True, text=True, timeout=120,
                           check=True).stdout
    assert again == first
    assert "It's a \"LeNet\" & more; $HOME `id` *" in first and "Source: O'Neil (1998) | tee x" in first


def test_the_api_remembers_the_overrides_of_a_loaded_spec():
    spec = alexnet_spec.load(ROOT / "specs" / "lenet5.yaml", {"f6.out_features": 42})
    source = alexnet_spec.compile_source(spec, "torch")
    assert "Regenerate with: alexspec compile " in source and " --backend torch --set f6.out_features=42\n" in source
    assert "--set" not in alexnet_spec.compile_source(ROOT / "specs" / "lenet5.yaml", "torch")


# Item 17: an uncaught exception in a built model prints the generated line.

TRACEBACK_SCRIPT = """
import sys
from alexnet_spec.backends import get
from alexnet_spec.source.loading import parse_network

net = parse_network('''
name: Tiny
input: {channels: 3, height: 8, width: 8}
layers:
  - {name: conv1, type: conv, out_channels: 4, kernel: 3, padding: 1}
  - {type: relu}
''')
model = get(sys.argv[1]).build(net)
if sys.argv[1] == "torch":
    import torch
    model(torch.zeros(1, 4, 8, 8))  # 4 channels where the spec says 3
else:
    import jax, numpy as np
    model.apply(model.init(jax.random.PRNGKey(0)), np.zeros((1, 8, 8, 4), np.float32))
"""
GENERATED_LINE = {"torch": "x = self.conv1(x)", "jax": 'x = conv2d(x, params["conv1"]'}


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_uncaught_tracebacks_show_the_generated_line(backend, tmp_path):
    pytest.importorskip(backend)
    script = tmp_path / "fail.py"
    script.write_text(TRACEBACK_SCRIPT, encoding="utf-8")
    result = subprocess.run([sys.executable, str(script), backend], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "ALEXSPEC_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    # Python prints the frame, then the line it read: the generated statement with its shape comment.
    lines = result.stderr.splitlines()
    frame = next(index for index, line in enumerate(lines)
                 if str(tmp_path / "cache") in line and (", in forward" in line or ", in apply" in line))
    assert lines[frame + 1].strip().startswith(GENERATED_LINE[backend]), result.stderr


def test_without_a_writable_cache_the_lines_are_still_in_linecache(tmp_path, monkeypatch):
    """A cache path that cannot be a folder: the module runs, and the traceback module reads its lines."""
    import linecache
    import traceback

    (tmp_path / "file").write_text("", encoding="utf-8")
    monkeypatch.setenv("ALEXSPEC_CACHE_DIR", str(tmp_path / "file" / "cache"))
    source = textwrap.dedent("""
        def fail():
            raise ValueError("from the generated line")
    """)
    module = load_source(source, "alexspec_test_linecache_only")
    assert module.__file__.startswith("<")
    with pytest.raises(ValueError) as error:
        module.fail()
    linecache.checkcache()
    assert traceback.extract_tb(error.value.__traceback__)[-1].line == 'raise ValueError("from the generated line")'


def test_the_cache_file_holds_exactly_the_executed_source(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXSPEC_CACHE_DIR", str(tmp_path))
    source = "VALUE = 1\n"
    module = load_source(source, "alexspec_test_cache_file")
    assert Path(module.__file__).parent == tmp_path and Path(module.__file__).read_text(encoding="utf-8") == source
    assert load_source(source, "alexspec_test_cache_file").__file__ == module.__file__  # same content, same file
    assert load_source("VALUE = 2\n", "alexspec_test_cache_file").__file__ != module.__file__


# --- the generated modules as a product: lint-clean, every definition used ---

LINT = ["check", "--isolated", "--preview", "--select", "F,E,W", "--ignore", "E501", "--output-format", "concise",
        "--no-cache"]  # E501: the aligned shape comments are long by design
# Small networks that leave out what the shipped specs always have: no batch normalisation, no draws (constants
# only), no pooling, no convolution, no padding.
VARIATIONS = {
    "constants_only": """
        name: Constants
        input: {channels: 1, height: 4, width: 4}
        layers:
          - {type: conv, out_channels: 2, kernel: 3,
             init: {weight: {dist: constant, value: 0.5}, bias: {dist: constant, value: 0}}}
          - {type: tanh}
    """,
    "dense_only": """
        name: Dense
        input: {channels: 2, height: 3, width: 3}
        layers: [{type: flatten}, {type: dense, out_features: 4, activation: relu}, {type: dropout, p: 0.5}]
    """,
    "lrn_only": """
        name: Lrn
        input: {channels: 4, height: 3, width: 3}
        layers: [{type: lrn, size: 3, alpha: 1.0e-4, beta: 0.75, k: 2, convention: tf}]
    """,
}


def _generated_sources() -> dict[str, str]:
    """{name: source}: the golden files, then every shipped spec and each variation rendered by both backends."""
    import contextlib

    from alexnet_spec.precision import LOW_PRECISIONS, with_precision
    from alexnet_spec.source.loading import load_network
    from tests.conftest import SPEC_FILES, resolve_text

    sources = {f"golden_{path.parent.name}_{path.stem}": path.read_text(encoding="utf-8")
               for path in sorted((ROOT / "tests" / "golden").glob("*/*.py"))}
    with contextlib.chdir(ROOT):
        nets = {path.stem: load_network(path.relative_to(ROOT).as_posix()) for path in SPEC_FILES}
    nets.update({name: resolve_text(text) for name, text in VARIATIONS.items()})
    for name, net in nets.items():
        for backend, render in RENDERERS.items():
            sources[f"{backend}_{name}"] = render(net)
            for precision in LOW_PRECISIONS:  # the float32 islands and conversions pass too
                sources[f"{backend}_{name}_{precision}"] = render(with_precision(net, precision))
    return sources


@pytest.fixture(scope="module")
def generated_sources() -> dict[str, str]:
    return _generated_sources()


def test_generated_modules_pass_ruff(generated_sources, tmp_path):
    """pyflakes (F: unused imports and variables, undefined names), pycodestyle (E, W: two blank lines between
    top-level definitions, whitespace) over every generated module; the files are checked as written."""
    pytest.importorskip("ruff")
    for name, source in generated_sources.items():
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "ruff", *LINT, str(tmp_path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# What users call: the model classes (torch), init, init_state and apply (jax).
ENTRY_POINTS = {"init", "init_state", "apply"}


def unused_definitions(source: str) -> list[str]:
    """The top-level functions and classes that nothing reachable from the module's entry points (its nn.Module
    classes named after the spec, or jax's init/apply) refers to, by name, in their code or base classes."""
    tree = ast.parse(source)
    definitions = {node.name: node for node in tree.body
                   if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    roots = {name for name, node in definitions.items() if name in ENTRY_POINTS or (
        isinstance(node, ast.ClassDef) and any(isinstance(base, ast.Attribute) and base.attr == "Module"
                                               for base in node.bases) and not name.startswith(("_", "Local")))}
    reached, pending = set(), list(roots)
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        pending += [node.id for node in ast.walk(definitions[name]) if isinstance(node, ast.Name)
                    and node.id in definitions and node.id != name]
    return sorted(set(definitions) - reached)


def test_unused_definitions_are_found():
    assert unused_definitions("import torch\n\n\ndef helper():\n    pass\n\n\n"
                              "def used():\n    pass\n\n\ndef apply(x):\n    return used()\n") == ["helper"]


def test_generated_modules_define_only_what_they_use(generated_sources):
    unused = {name: found for name, source in generated_sources.items() if (found := unused_definitions(source))}
    assert unused == {}
