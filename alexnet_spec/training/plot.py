"""The curves of a run as a standalone SVG (no display, no plotting library): loss and accuracy per epoch, training
and held-out, in two panels."""

from __future__ import annotations

from html import escape

PANEL_WIDTH, PANEL_HEIGHT, MARGIN = 320, 200, 44
SERIES = {"loss": (("train_loss", "training", "#1f77b4"), ("held_out_loss", "held-out", "#d62728")),
          "accuracy": (("train_top1", "training top-1", "#1f77b4"), ("held_out_top1", "held-out top-1", "#d62728"),
                       ("held_out_top5", "held-out top-5", "#ff7f0e"))}


def curves_svg(history: list[dict], title: str) -> str:
    """An SVG of `history` (the loop's epoch entries): loss on the left, accuracy (0 to 1) on the right."""
    width = 2 * (PANEL_WIDTH + 2 * MARGIN)
    height = PANEL_HEIGHT + 2 * MARGIN + 24
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
              f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'),
             f'<title>{escape(title)}</title>', f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>']
    losses = [entry[key] for entry in history for key, _, _ in SERIES["loss"]]
    top = max(losses, default=1.0) * 1.05 or 1.0
    for index, (panel, low, high) in enumerate((("loss", 0.0, top), ("accuracy", 0.0, 1.0))):
        parts += _panel(history, panel, low, high, index * (PANEL_WIDTH + 2 * MARGIN) + MARGIN, MARGIN)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(history: list[dict], panel: str, low: float, high: float, left: float, top: float) -> list[str]:
    epochs = [entry["epoch"] for entry in history]
    first, last = (min(epochs), max(epochs)) if epochs else (1, 1)

    def x(epoch):
        return left + (PANEL_WIDTH * (epoch - first) / (last - first) if last > first else PANEL_WIDTH / 2)

    def y(value):
        return top + PANEL_HEIGHT * (1 - (value - low) / (high - low))

    parts = [f'<rect x="{left}" y="{top}" width="{PANEL_WIDTH}" height="{PANEL_HEIGHT}" fill="none" stroke="#888"/>',
             f'<text x="{left + PANEL_WIDTH / 2}" y="{top - 8}" text-anchor="middle">{panel}</text>',
             f'<text x="{left + PANEL_WIDTH / 2}" y="{top + PANEL_HEIGHT + 30}" text-anchor="middle">epoch</text>']
    for fraction in (0, 0.5, 1):
        value = low + fraction * (high - low)
        parts.append(f'<text x="{left - 4}" y="{y(value) + 4:.1f}" text-anchor="end">{value:.2f}</text>')
    for epoch in sorted(set(epochs)):
        parts.append(f'<text x="{x(epoch):.1f}" y="{top + PANEL_HEIGHT + 14}" text-anchor="middle">{epoch}</text>')
    for row, (key, label, colour) in enumerate(SERIES[panel]):
        points = " ".join(f"{x(entry['epoch']):.1f},{y(entry[key]):.1f}" for entry in history)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{x(entry["epoch"]):.1f}" cy="{y(entry[key]):.1f}" r="2.5" fill="{colour}"/>'
                  for entry in history]
        # Loss falls and accuracy rises: the legend goes in the corner the curves leave empty.
        rows = len(SERIES[panel])
        legend_y = top + 14 + 14 * row if panel == "loss" else top + PANEL_HEIGHT - 8 - 14 * (rows - 1 - row)
        legend_x = left + PANEL_WIDTH - 110
        parts.append(f'<line x1="{legend_x}" y1="{legend_y - 4}" x2="{legend_x + 16}" y2="{legend_y - 4}" '
                     f'stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{legend_x + 20}" y="{legend_y}">{label}</text>')
    return parts
