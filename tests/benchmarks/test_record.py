"""The record's logic, on made-up timings: shares of the practical limit never exceed 100%, smoke runs judge
nothing, the machine's CPU flags are read from /proc/cpuinfo's format."""

from __future__ import annotations

import re

from benchmarks.harness import Timing
from benchmarks.record import Row, cpu_info, judge, markdown, practical_limits

GFLOP = 1e9


def row(name, seconds, flops=None, dtype="float32", probe=False, **fields) -> Row:
    return Row("S", name, Timing(name, (seconds,)), None, None, flops=flops, dtype=dtype, probe=probe, **fields)


def test_the_limit_is_the_best_probe_per_dtype():
    rows = [row("mm", 1.0, 100 * GFLOP, probe=True), row("conv", 1.0, 120 * GFLOP, probe=True),
            row("mm bf16", 1.0, 400 * GFLOP, dtype="bfloat16", probe=True), row("model", 1.0, 60 * GFLOP)]
    limits = practical_limits(rows)
    assert (limits["float32"].gflops, limits["float32"].set_by) == (120, "conv")
    assert limits["bfloat16"].gflops == 400  # a bfloat16 probe does not raise the float32 limit
    shares = {r.name: r.share for r in judge(rows)}
    assert shares["model"] == 0.5 and shares["conv"] == 1.0 and abs(shares["mm"] - 100 / 120) < 1e-12


def test_a_row_faster_than_every_probe_sets_the_limit_and_no_share_exceeds_100_percent():
    # The old record divided by torch.mm alone, and compiled AlexNet read 143%.
    rows = [row("mm", 1.0, 100 * GFLOP, probe=True), row("conv", 1.0, 110 * GFLOP, probe=True),
            row("compiled model", 0.5, 70 * GFLOP)]  # 140 GFLOP/s
    judged = judge(rows)
    assert max(r.share for r in judged if r.share is not None) == 1.0
    limit_row = next(r for r in judged if r.name == "practical limit, float32")
    assert limit_row.value == "140.0 GFLOP/s"
    assert "compiled model" in limit_row.note and "above both probes" in limit_row.note


def test_share_targets_are_judged_against_the_limit():
    rows = [row("conv", 1.0, 100 * GFLOP, probe=True),
            row("fast enough", 1.0, 60 * GFLOP, share_target=0.6), row("too slow", 1.0, 59 * GFLOP, share_target=0.6)]
    met = {r.name: r.met for r in judge(rows)}
    assert met["fast enough"] is True and met["too slow"] is False


def test_a_smoke_run_judges_nothing():
    timing = Timing("t", (0.002,))
    rows = [row("conv", 1.0, 100 * GFLOP, probe=True),
            Row("S", "ours vs theirs", timing, ">= 5×", False, value="7.63× (2 ms)", ratio=7.63, target_ratio=5.0,
                note="theirs 15 ms; 763% of torch.mm", flops=1e9),
            Row("S", "ours vs the bound", timing, "within 3×", True, value="1.20× the bound"),
            Row("S", "share", timing, ">= 60%", None, flops=1e9, share_target=0.6),
            Row("S", "exponent", None, "<= 1.1", True, value="1.02")]
    text = markdown(rows, "smoke", {"cpu": "test"}, "chart.svg", judged=False)
    assert "2.000 ms" in text  # the time is shown, once
    assert text.count("2.000 ms") == 1
    for judgement in ("met", "yes", "**no**", "%", "target", "chart.svg", "exponent"):
        assert judgement not in text
    assert not re.search(r"\d×(?!\d)", text)  # no ratio (shapes such as 2×16×9×9 are allowed)


def test_cpu_name_and_matrix_unit_flags_are_recorded(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
                       "flags\t\t: fpu sse avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n\n"
                       "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu\n")
    info = cpu_info(str(cpuinfo))
    assert info["cpu"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert info["cpu flags"] == "avx2 fma avx512f avx512_bf16 amx_tile amx_bf16 amx_int8"
    assert cpu_info(str(tmp_path / "absent")) == {}


def test_a_partial_record_replaces_its_sections_and_keeps_the_others():
    from benchmarks.record import merge

    full = "# Benchmarks\n\nintro\n\n## Machine\n\n- cpu: old\n\n## LRN (torch)\n\n| a |\n\n## Scaling\n\n| old |\n"
    partial = ("# Benchmarks\n\nintro\n\n## Machine\n\n- cpu: new\n\n## Scaling\n\n| new |\n\n## Graphs\n\n| g |\n\n"
               "## Limits\n\n| probe |\n\n## Limits\n\n| limit |\n\n## This run\n\n| 1 min |\n")
    merged = merge(full, partial, "python -m benchmarks.run --only scaling", {"cpu": "new", "cores": "2"})
    assert [line for line in merged.splitlines() if line.startswith("## ")] == \
        ["## Machine", "## LRN (torch)", "## Scaling", "## Graphs", "## Limits"]  # in place, then appended; no wall time
    assert "- cpu: old" in merged and "| a |" in merged and "| old |" not in merged  # the machine stays the full run's
    assert merged.count("Measured by `python -m benchmarks.run --only scaling` (cpu new, cores 2)") == 3
    assert merged.index("| probe |") < merged.index("| limit |")  # the record's two Limits tables, under one title
    assert merged.index("| new |") < merged.index("## Graphs") < merged.index("| g |")
