"""Charts and diagrams as inline SVG: a document that opens anywhere, with no script and no network.

Every text that reaches SVG passes `esc` (a business's name, a provider's model may hold anything).
"""

from collections.abc import Sequence
from html import escape

PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#64748b")


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def _scale(value: float, top: float, size: float) -> float:
    return 0.0 if top <= 0 else value / top * size


def stacked_bars(
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    parts: Sequence[str],
    unit: str,
    chart_id: str,
    *,
    digits: int = 4,
) -> str:
    """Horizontal bars, one per row, each split into `parts` (a legend below)."""
    width, left, bar, gap = 820, 380, 22, 12
    height = 40 + len(rows) * (bar + gap) + 40
    top = max((sum(v) for _, v in rows), default=0.0) or 1.0
    out = [
        f'<svg class="chart" id="{esc(chart_id)}" role="img" aria-label="{esc(title)}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
    ]
    for i, (label, values) in enumerate(rows):
        y = 30 + i * (bar + gap)
        out.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="label">{esc(label)}</text>')
        x = float(left)
        for j, value in enumerate(values):
            w = _scale(value, top, width - left - 100)
            if w > 0:
                out.append(
                    f'<rect class="bar" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" '
                    f'fill="{PALETTE[j % len(PALETTE)]}"><title>{esc(parts[j])}: '
                    f"{value:.{digits}f} {esc(unit)}</title></rect>"
                )
            x += w
        out.append(
            f'<text x="{x + 6:.1f}" y="{y + 16}" class="value">{sum(values):.{digits}f} {esc(unit)}</text>'
        )
    ly = height - 18
    for j, part in enumerate(parts):
        lx = left + j * 120
        out.append(
            f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{PALETTE[j % len(PALETTE)]}"/>'
        )
        out.append(f'<text x="{lx + 16}" y="{ly}" class="legend">{esc(part)}</text>')
    out.append("</svg>")
    return "".join(out)


def line(
    title: str,
    points: Sequence[tuple[float, float]],
    x_label: str,
    y_label: str,
    chart_id: str,
    *,
    mark: float | None = None,
) -> str:
    """One line (y from 0 to 1 as a percentage) over x; `mark`: a dashed vertical line at that x."""
    width, height, left, bottom = 720, 300, 60, 40
    top_x = max((x for x, _ in points), default=1.0) or 1.0
    plot_w, plot_h = width - left - 20, height - bottom - 20

    def at(x: float, y: float) -> tuple[float, float]:
        return left + _scale(x, top_x, plot_w), 20 + plot_h - y * plot_h

    path = " ".join(
        f"{'M' if i == 0 else 'L'}{at(x, y)[0]:.1f},{at(x, y)[1]:.1f}" for i, (x, y) in enumerate(points)
    )
    out = [
        f'<svg class="chart" id="{esc(chart_id)}" role="img" aria-label="{esc(title)}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
        f'<line x1="{left}" y1="{20 + plot_h}" x2="{width - 20}" y2="{20 + plot_h}" class="axis"/>',
        f'<line x1="{left}" y1="20" x2="{left}" y2="{20 + plot_h}" class="axis"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        _, y = at(0, tick)
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{tick:.0%}</text>')
    for i in range(5):
        value = top_x * i / 4
        x, _ = at(value, 0)
        out.append(
            f'<text x="{x:.1f}" y="{20 + plot_h + 16}" text-anchor="middle" class="tick">{value:,.0f}</text>'
        )
    out.append(f'<path class="series" d="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2.5"/>')
    if mark is not None:
        x, _ = at(mark, 0)
        out.append(f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{20 + plot_h}" class="mark"/>')
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" '
        f'class="axis-label">{esc(x_label)}</text>'
    )
    out.append(
        f'<text x="14" y="{20 + plot_h / 2:.1f}" text-anchor="middle" class="axis-label" '
        f'transform="rotate(-90 14 {20 + plot_h / 2:.1f})">{esc(y_label)}</text>'
    )
    out.append("</svg>")
    return "".join(out)


def flow(steps: Sequence[tuple[str, str]], chart_id: str, title: str) -> str:
    """Boxes left to right (two rows when long), joined by arrows: each a name and a line under it."""
    per_row = 4
    box_w, box_h, gap = 150, 64, 30
    rows = (len(steps) + per_row - 1) // per_row
    width = per_row * box_w + (per_row - 1) * gap + 20
    height = rows * (box_h + 50) + 10
    out = [
        f'<svg class="chart diagram" id="{esc(chart_id)}" role="img" aria-label="{esc(title)}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
        '<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
        '<path d="M0,0 L10,4 L0,8 z" fill="#475569"/></marker></defs>',
    ]
    for i, (name, note) in enumerate(steps):
        row, col = divmod(i, per_row)
        if row % 2:  # the second row runs right to left, as the reply travels back
            col = per_row - 1 - col
        x, y = 10 + col * (box_w + gap), 10 + row * (box_h + 50)
        out.append(f'<rect class="box" x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="10"/>')
        out.append(
            f'<text x="{x + box_w / 2}" y="{y + 26}" text-anchor="middle" class="box-name">{esc(name)}</text>'
        )
        out.append(
            f'<text x="{x + box_w / 2}" y="{y + 46}" text-anchor="middle" class="box-note">{esc(note)}</text>'
        )
        if i + 1 < len(steps):
            nrow, ncol = divmod(i + 1, per_row)
            if nrow % 2:
                ncol = per_row - 1 - ncol
            nx, ny = 10 + ncol * (box_w + gap), 10 + nrow * (box_h + 50)
            if nrow == row:
                x1, x2 = (x + box_w, nx) if ncol > col else (x, nx + box_w)
                out.append(
                    f'<line x1="{x1}" y1="{y + box_h / 2}" x2="{x2}" y2="{y + box_h / 2}" '
                    'class="arrow" marker-end="url(#arrow)"/>'
                )
            else:
                out.append(
                    f'<line x1="{x + box_w / 2}" y1="{y + box_h}" x2="{nx + box_w / 2}" y2="{ny}" '
                    'class="arrow" marker-end="url(#arrow)"/>'
                )
    out.append("</svg>")
    return "".join(out)
