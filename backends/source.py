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


def values_after_statements(function, statements: list[tuple[str, str]], call, copy=lambda value: value) -> dict:
    """{label: the local `x` right after each statement} for one `call()` that runs the generated `function`.

    `statements` are (label, statement text) in source order; each is found in `function`'s source from where the
    previous one was. The generated code is traced line by line, so what is read is what the user's code computed.
    """
    import inspect

    lines, first = inspect.getsourcelines(function)
    ends, position = {}, 0
    for label, text in statements:
        while not lines[position].strip().startswith(text):
            position += 1
        ends[first + position] = label
        position += 1
    events = []

    def in_function(frame, event, arg):
        if event in ("line", "return"):
            events.append((frame.f_lineno, copy(frame.f_locals.get("x"))))
        return in_function

    def tracer(frame, event, arg):
        return in_function if frame.f_code is function.__code__ else None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(previous)
    # The value of x at the event after a line is what that line computed.
    return {ends[line]: after for (line, _), (_, after) in zip(events, events[1:]) if line in ends}
