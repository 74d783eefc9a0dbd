"""The documentation quotes only speed figures that `make bench` recorded: every "N×" or "N.NN×" in README.md and
docs/*.md appears in docs/benchmarks.md, so the pages cannot drift apart (issue 22: the README said about 2×, the
record 1.32-1.49×, docs/torch_backend.md 1.96×)."""

from __future__ import annotations

import re

from tests.conftest import ROOT

# A number directly followed by ×, not part of a shape: "1.49×" and "6×" count, "32×96×55×55" and "11×11" do not.
FIGURE = re.compile(r"(?<![\w.×])\d+(?:\.\d+)?×(?![\w×])")
RECORD = ROOT / "docs" / "benchmarks.md"


def figures(text: str) -> set[str]:
    return set(FIGURE.findall(text))


def test_the_pattern_tells_figures_from_shapes():
    assert figures("6.17× faster, 2× at batch 1, >= 1.3×; 32×96×55×55, 11×11/4, a (1×1) pool, C×H×W") == \
        {"6.17×", "2×", "1.3×"}


def test_every_figure_in_the_docs_is_in_the_benchmark_record():
    recorded = figures(RECORD.read_text(encoding="utf-8"))
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if document == RECORD:
            continue
        unrecorded = sorted(figures(document.read_text(encoding="utf-8")) - recorded)
        assert not unrecorded, (f"{document.relative_to(ROOT)} quotes {', '.join(unrecorded)}, which "
                                f"docs/benchmarks.md does not record: quote the record or run `make bench`")
