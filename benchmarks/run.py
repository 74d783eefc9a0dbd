"""`make bench`: run every benchmark on this machine and write docs/benchmarks.md and docs/benchmarks.svg.

    python -m benchmarks.run            # the full record (several minutes)
    python -m benchmarks.run --quick    # tiny sizes, few repetitions, nothing written: the test suite runs this
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from benchmarks import record

SECTIONS = ("benchmarks.torch_lrn", "benchmarks.torch_model", "benchmarks.jax_model", "benchmarks.cli",
            "benchmarks.scaling", "benchmarks.training")
DOCS = Path(__file__).resolve().parent.parent / "docs"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few repetitions; write nothing")
    parser.add_argument("--only", action="append", default=[], help="run only sections whose module name contains this")
    args = parser.parse_args(argv)
    rows = []
    for module_name in SECTIONS:
        if args.only and not any(part in module_name for part in args.only):
            continue
        print(f"running {module_name} ...", file=sys.stderr, flush=True)
        rows += importlib.import_module(module_name).run(quick=args.quick)
    command = "make bench" + (f" (python -m benchmarks.run {' '.join(argv or sys.argv[1:])})" if args.only else "")
    text = record.markdown(rows, command, record.machine(), "benchmarks.svg")
    if args.quick:
        print(text)
        return 0
    (DOCS / "benchmarks.svg").write_text(record.ratio_chart(rows))
    (DOCS / "benchmarks.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
