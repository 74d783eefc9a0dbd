"""The layers of the design, checked on the source: data flows YAML -> spec -> passes -> ResolvedNetwork ->
backends, and nothing flows back.

- No import cycle among the modules of alexnet_spec and backends (module-level imports: what runs at import).
- The core (alexnet_spec without the command line, the tools and the API facade) imports neither the command line,
  nor a tool, nor a backend's modules, not even inside a function; it may look a backend up in the registry.
- Backends read ResolvedNetwork only: they never import the spec models.
- Tools reach backends through the registry (alexnet_spec.backends), never a backend's own modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = {"alexnet_spec": ROOT / "alexnet_spec", "alexnet_spec.backends": ROOT / "backends"}
COMMAND_LINE = ("alexnet_spec.cli", "alexnet_spec.cli_support", "alexnet_spec.__main__")
COMMAND_MODULES = ("alexnet_spec.interop.commands", "alexnet_spec.training.commands")  # a package's CLI commands
FACADE = ("alexnet_spec",)  # alexnet_spec/__init__.py: load, resolve, build (through the registry)


def _modules() -> dict[str, Path]:
    modules = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if package == "alexnet_spec" and parts[:1] == ("backends",):
                continue
            modules[".".join((package,) + parts)] = path
    return modules


MODULES = _modules()


def _imports(path: Path, name: str, top_level_only: bool) -> set[str]:
    """The project modules that `name` imports (absolute and relative forms), at module level or anywhere."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            # A package is initialised before its modules, so `from package import module` inside it is no edge.
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def _violations(importers, forbidden) -> set[tuple[str, str]]:
    return {(name, target) for name, path in MODULES.items() if importers(name)
            for target in _imports(path, name, top_level_only=False) if forbidden(target)}


def _is_core(name: str) -> bool:
    return not (name in COMMAND_LINE or name in FACADE or name.startswith(("alexnet_spec.tools", "alexnet_spec.backends"))
                or name in COMMAND_MODULES)


def test_the_module_list_is_not_empty():
    assert "alexnet_spec.resolved" in MODULES and "alexnet_spec.backends.torch.view" in MODULES


def test_no_import_cycles():
    graph = {name: _imports(path, name, top_level_only=True) for name, path in MODULES.items()}
    state, cycles = {}, []

    def visit(name, trail):
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_core_imports_no_command_line_tool_or_backend():
    # The registry (alexnet_spec.backends itself) is the one seam: a core module may look a backend up by name.
    found = _violations(_is_core, lambda target: target in COMMAND_LINE or target in COMMAND_MODULES
                        or target.startswith(("alexnet_spec.tools", "alexnet_spec.backends.")))
    assert not found


def test_backends_never_read_the_spec_models():
    found = _violations(lambda name: name.startswith("alexnet_spec.backends"),
                        lambda target: target.startswith("alexnet_spec.spec"))
    assert not found


def test_tools_reach_backends_through_the_registry():
    found = _violations(lambda name: name.startswith("alexnet_spec.tools"),
                        lambda target: target.startswith("alexnet_spec.backends."))
    assert not found
