"""Executing generated source so that what users read is what runs (as torch.fx does for GraphModule code)."""

from __future__ import annotations

import linecache
import sys
import types


def load_source(source: str, module_name: str, filename: str) -> types.ModuleType:
    """Execute `source` as a module named `module_name`, its lines registered in linecache under `filename`, so that
    tracebacks, `inspect.getsource` and debuggers show the generated lines."""
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module = types.ModuleType(module_name)
    module.__file__ = filename
    sys.modules[module_name] = module  # inspect finds a class's source through its module
    exec(compile(source, filename, "exec"), module.__dict__)
    return module
