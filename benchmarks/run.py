"""`make bench`: run every benchmark on this machine and write docs/benchmarks.md and docs/benchmarks.svg.

    python -m benchmarks.run            # the full record (under 10 minutes on 2 cores; its own last row says how long)
    python -m benchmarks.run --quick    # a smoke run: tiny sizes, few repetitions, nothing judged, nothing written
    python -m benchmarks.run --only limits --only graphs   # those sections, put in place of theirs in the record
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

from alexnet_spec.files import write_text
from benchmarks import record
from benchmarks.harness import Timing

SECTIONS = ("benchmarks.limits", "benchmarks.torch_lrn", "benchmarks.torch_model", "benchmarks.memory",
            "benchmarks.jax_model", "benchmarks.graphs", "benchmarks.cli", "benchmarks.scaling", "benchmarks.training",
            "benchmarks.precision", "benchmarks.cuda")
DOCS = Path(__file__).resolve().parent.parent / "docs"
BUDGET_SECONDS = 600  # make bench on 2 cores


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes, nothing judged or written")
    parser.add_argument("--only", action="append", default=[], help="run only sections whose module name contains this")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    load_before = _load()
    rows = []
    for module_name in SECTIONS:
        if args.only and not any(part in module_name for part in args.only):
            continue
        print(f"running {module_name} ...", file=sys.stderr, flush=True)
        rows += importlib.import_module(module_name).run(quick=args.quick)
    command = "make bench" + (f" (python -m benchmarks.run {' '.join(argv or sys.argv[1:])})" if args.only else "")
    info = record.machine()
    if args.quick:
        print(record.markdown(rows, "python -m benchmarks.run --quick", info, None, judged=False))
        return 0
    elapsed = time.perf_counter() - started
    info["load average (1 min) at start and end"] = f"{load_before} and {_load()}"
    rows = record.judge(rows)
    rows.append(record.Row("This run", "wall time of the whole run", Timing("run", (elapsed,)),
                           f"< {BUDGET_SECONDS // 60} min" if not args.only else None,
                           elapsed < BUDGET_SECONDS if not args.only else None, value=f"{elapsed / 60:.1f} min"))
    text = record.markdown(rows, command, info, "benchmarks.svg")
    print(text)
    if args.only:  # a partial record: its sections replace theirs; the chart stays the full run's
        path = DOCS / "benchmarks.md"
        write_text(path, record.merge(path.read_text(encoding="utf-8"), text, command, info))
        return 0
    write_text(DOCS / "benchmarks.svg", record.ratio_chart(rows))  # each whole or not at all
    write_text(DOCS / "benchmarks.md", text)
    return 0


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
