"""The benchmark record: rows of results, the machine they ran on, docs/benchmarks.md and its ratio chart.

Throughput is judged against the machine's practical limit for the row's dtype (`practical_limits`): the best
GFLOP/s measured in the same run, by the limit probes (benchmarks/limits.py: a large matmul and a large oneDNN
convolution) or by any other row. A row faster than both probes raises the limit to itself, and the record says so;
so no share can read above 100%.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import sys
from dataclasses import dataclass
from html import escape

from benchmarks.harness import Timing


@dataclass(frozen=True)
class Row:
    section: str
    name: str
    timing: Timing | None
    target: str | None
    met: bool | None
    note: str = ""
    value: str | None = None  # shown instead of the timing (a ratio, a throughput, an exponent)
    ratio: float | None = None  # plotted in the chart when set, against `target_ratio`
    target_ratio: float | None = None
    flops: float | None = None  # floating-point operations per call: the row's share of the limit is shown
    dtype: str = "float32"  # the dtype whose limit that share is of
    probe: bool = False  # a limit probe (large matmul or convolution) rather than a measurement of ours
    share_target: float | None = None  # judged on its share of the limit (0.6: at least 60%), once limits are known
    share: float | None = None  # filled in by `judge`

    @property
    def gflops(self) -> float | None:
        if self.flops is None or self.timing is None:
            return None
        return self.flops / self.timing.median / 1e9


@dataclass(frozen=True)
class Limit:
    dtype: str
    gflops: float
    set_by: str  # the row's name
    by_probe: bool


def practical_limits(rows: list[Row]) -> dict[str, Limit]:
    """Per dtype, the best GFLOP/s of any row with a FLOP count: probes first, so that on a tie a probe sets it."""
    limits: dict[str, Limit] = {}
    for row in sorted(rows, key=lambda row: not row.probe):
        gflops = row.gflops
        if gflops is None:
            continue
        best = limits.get(row.dtype)
        if best is None or gflops > best.gflops:
            limits[row.dtype] = Limit(row.dtype, gflops, row.name, row.probe)
    return limits


def judge(rows: list[Row]) -> list[Row]:
    """The rows with their share of the practical limit filled in, share targets judged, and one row per dtype
    that says what set the limit."""
    limits = practical_limits(rows)
    judged = []
    for row in rows:
        if row.gflops is not None:
            share = row.gflops / limits[row.dtype].gflops
            met = row.met if row.share_target is None else share >= row.share_target
            row = dataclasses.replace(row, share=share, met=met)
        judged.append(row)
    for limit in limits.values():
        how = "measured by that probe" if limit.by_probe else "a measurement above both probes, so it sets the limit"
        judged.append(Row("Limits", f"practical limit, {limit.dtype}", None, None, None,
                          value=f"{limit.gflops:.1f} GFLOP/s", note=f"{limit.set_by}: {how}"))
    return judged


def machine() -> dict[str, str]:
    info = {"python": sys.version.split()[0], "platform": platform.platform(), "cores": str(os.cpu_count())}
    info.update(cpu_info())
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch CPU capability"] = torch.backends.cpu.get_cpu_capability()
        info["torch threads"] = str(torch.get_num_threads())
        if torch.cuda.is_available():
            info["cuda device"] = f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    except ImportError:
        pass
    try:
        import jax

        info["jax"] = jax.__version__
    except ImportError:
        pass
    return info


# The flags that decide which kernels oneDNN and XLA can use: vector width, FMA, and the matrix units.
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile", "amx_bf16",
               "amx_int8", "amx_fp16")


def cpu_info(path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The CPU's name and which of SPEED_FLAGS it has (Linux's /proc/cpuinfo; nothing elsewhere)."""
    info = {}
    try:
        with open(path) as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and "cpu" not in info:
                    info["cpu"] = value.strip()
                elif key.strip() == "flags" and "cpu flags" not in info:
                    present = set(value.split())
                    info["cpu flags"] = " ".join(flag for flag in SPEED_FLAGS if flag in present) or "none of them"
    except OSError:
        pass
    return info


def markdown(rows: list[Row], command: str, info: dict[str, str], chart: str | None, judged: bool = True) -> str:
    """The record. `judged` False (a smoke run on tiny sizes): no targets, no met, no shares, no chart."""
    lines = ["# Benchmarks", ""]
    if judged:
        lines.append(f"Regenerated by `{command}`; do not edit by hand. Medians over interleaved repetitions after "
                     "warm-up, with [min, max]; ratios are medians measured side by side in the same run. Shares are "
                     "of the practical limit for the row's dtype (section Limits).")
    else:
        lines.append(f"A smoke run (`{command}`): tiny sizes and one or two repetitions, to show the code runs. "
                     "Nothing is judged; the record is what `make bench` writes.")
    lines += ["", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    if chart and judged:
        lines += ["", f"![ratios against their targets]({chart})"]
    header = ["measurement", "result", "share of the limit", "target", "met", "note"] if judged else \
        ["measurement", "time"]
    section = None
    if not judged:  # each time once; rows that only judge (a ratio, a share, an exponent) say nothing here
        shown = [row for row in rows if row.timing is not None]
        rows = [row for index, row in enumerate(shown) if all(row.timing is not other.timing for other in shown[:index])]
    for row in rows:
        if row.section != section:
            section = row.section
            lines += ["", f"## {section}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        if judged:
            result = row.value if row.value is not None else (row.timing.describe() if row.timing else "")
            if row.gflops is not None:
                result += f", {row.gflops:.1f} GFLOP/s"
            share = "" if row.share is None else f"{100 * row.share:.0f}% of {row.dtype}"
            met = "" if row.met is None else ("yes" if row.met else "**no**")
            cells = [row.name, result, share, row.target or "", met, row.note]
        else:  # the time alone: a ratio measured on tiny sizes means nothing
            cells = [row.name, row.timing.describe() if row.timing else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def merge(record: str, partial: str, command: str, info: dict[str, str]) -> str:
    """`record` (docs/benchmarks.md) with the measured sections of `partial` (a record of some sections, `--only`)
    put in place of the sections of the same name, or appended; each such section says which command and machine
    measured it, since the rest of the record may come from another run. Machine and the run's own wall time stay
    the full record's."""
    sections: dict[str, str] = {}
    for title, body in _sections(partial)[1:]:
        if title not in ("Machine", "This run"):  # Limits comes twice: the probes, then what they set
            sections[title] = sections.get(title, "") + body.strip() + "\n\n"
    keys = ("cpu", "cores", "torch", "jax", "load average (1 min) at start and end")
    where = ", ".join(f"{key} {info[key]}" for key in keys if key in info)
    measured = f"Measured by `{command}` ({where}), apart from the rest of this record.\n\n"
    head, *existing = _sections(record)
    merged = [head] + [(title, measured + sections[title] if title in sections else body) for title, body in existing]
    merged += [(title, measured + body) for title, body in sections.items() if title not in dict(existing)]
    return "".join(body if title is None else f"## {title}\n\n{body.strip()}\n\n" for title, body in merged) \
        .rstrip("\n") + "\n"


def _sections(text: str) -> list[tuple[str | None, str]]:
    """(title, body) of every `## ` section, after (None, what comes before the first)."""
    parts = re.split(r"^## (.+)\n", text, flags=re.MULTILINE)
    return [(None, parts[0])] + [(parts[index], parts[index + 1]) for index in range(1, len(parts), 2)]


def ratio_chart(rows: list[Row]) -> str:
    """A horizontal bar per ratio, with its target as a tick: plain SVG."""
    plotted = [row for row in rows if row.ratio is not None]
    width, bar_height, left = 760, 22, 330
    height = 40 + bar_height * len(plotted) + 20
    top = max([row.ratio for row in plotted] + [row.target_ratio or 0 for row in plotted] + [1.0]) * 1.1
    scale = (width - left - 20) / top
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
              'font-size="12">'),
             '<text x="10" y="20" font-size="14">Speed-up ratios (bars) against targets (red ticks); 1.0 dashed</text>',
             (f'<line x1="{left + scale:.1f}" y1="30" x2="{left + scale:.1f}" y2="{height - 10}" stroke="#999" '
              'stroke-dasharray="4 3"/>')]
    for index, row in enumerate(plotted):
        y = 34 + index * bar_height
        colour = "#4a90d9" if row.met in (True, None) else "#d9534f"
        parts.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(row.name)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{row.ratio * scale:.1f}" height="{bar_height - 8}" '
                     f'fill="{colour}"/>')
        parts.append(f'<text x="{left + row.ratio * scale + 4:.1f}" y="{y + 14}">{row.ratio:.2f}×</text>')
        if row.target_ratio:
            x = left + row.target_ratio * scale
            parts.append(f'<line x1="{x:.1f}" y1="{y + 1}" x2="{x:.1f}" y2="{y + bar_height - 3}" stroke="#c00" '
                         f'stroke-width="2"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
