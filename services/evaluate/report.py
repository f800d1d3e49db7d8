"""How ``vigil evaluate`` shows its results: a terminal table, a JSON document, one HTML report.

The HTML report is a single file with inline SVG pictures (no plotting library needed): per clip
a timeline of the anomaly and class scores with the labelled incidents as bands and the alerts
as marks, and a precision-recall curve per class.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.evaluate.footage import ClipProblem
from services.evaluate.scoring import (
    ALL,
    MISSED,
    NORMAL,
    ClassStats,
    ClipResult,
    Evaluation,
    pr_curve,
    window_table,
)

COLORS = {
    "anomaly": "#222222",
    "fight": "#d62728",
    "scream": "#9467bd",
    "gunshot": "#ff7f0e",
    "glass_break": "#17becf",
    "explosion": "#8c564b",
}
FALLBACK_COLOR = "#7f7f7f"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "—" if x is None else format(x, fmt)


def _row(name: str, s: ClassStats) -> list[str]:
    return [
        name,
        str(s.incidents),
        _pct(s.recall),
        _pct(s.recall_right_class),
        str(s.false_alarms),
        _num(s.false_alarms_per_hour, ".1f"),
        _num(s.delay_median_s, ".1f"),
        _num(s.delay_p95_s, ".1f"),
        _num(s.window_ap),
    ]


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(
        [fmt.format(*header), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r) for r in rows)]
    )


def table(ev: Evaluation) -> str:
    """The per-class and overall results, the confusion matrix, and how to read them."""
    header = [
        "class",
        "incidents",
        "recall",
        "right class",
        "false alarms",
        "per hour",
        "delay p50",
        "p95",
        "window AP",
    ]
    rows = [
        _row(name, s)
        for name, s in sorted(ev.classes.items())
        if s.incidents or s.false_alarms or s.positive_windows
    ]
    rows.append(_row(ALL, ev.overall))
    out = [
        f"footage {ev.footage_s / 60:.1f} min; an alert detects an incident when their times overlap "
        f"(± {ev.tolerance_s:g} s); delays in seconds from the labelled start; "
        f"window AP of 'all' is the anomaly score's (mean over classes {_num(ev.mean_class_ap)})",
        _grid(header, rows),
    ]
    labelled = sorted(c for c in ev.confusion if c != NORMAL) + ([NORMAL] if NORMAL in ev.confusion else [])
    predicted = sorted({p for row in ev.confusion.values() for p in row} - {MISSED})
    if labelled:
        cols = [*predicted, MISSED]
        grid_rows = [[r, *(str(ev.confusion[r].get(c, 0)) for c in cols)] for r in labelled]
        out += ["", "confusion (rows: labelled, columns: alerted as; 'normal' row = false alarms)"]
        out.append(_grid(["labelled \\ alerted", *cols], grid_rows))
    return "\n".join(out)


def _stats_json(s: ClassStats) -> dict[str, Any]:
    return {
        "incidents": s.incidents,
        "detected": s.detected,
        "detected_right_class": s.detected_right_class,
        "recall": s.recall,
        "recall_right_class": s.recall_right_class,
        "false_alarms": s.false_alarms,
        "false_alarms_per_hour": s.false_alarms_per_hour,
        "delay_median_s": s.delay_median_s,
        "delay_p95_s": s.delay_p95_s,
        "window_ap": s.window_ap,
        "positive_windows": s.positive_windows,
    }


def to_json(
    ev: Evaluation, clips: Sequence[ClipResult], problems: Sequence[ClipProblem], settings: dict[str, Any]
) -> dict[str, Any]:
    """Everything in the table, per clip, plus the settings it ran with (for machines)."""
    return {
        "settings": settings,
        "footage_s": ev.footage_s,
        "tolerance_s": ev.tolerance_s,
        "overall": _stats_json(ev.overall),
        "mean_class_window_ap": ev.mean_class_ap,
        "classes": {name: _stats_json(s) for name, s in sorted(ev.classes.items())},
        "confusion": ev.confusion,
        "incidents": [
            {
                "clip": m.clip,
                "class": m.incident.cls,
                "start_s": m.incident.start_s,
                "end_s": m.incident.end_s,
                "alerted_as": m.alert_class,
                "right_class": m.right_class,
                "delay_s": m.delay_s,
            }
            for m in ev.matches
        ],
        "false_alarms": [
            {
                "clip": clip,
                "class": a.class_name,
                "start_s": a.start_s,
                "raised_s": a.raised_s,
                "peak": a.peak,
            }
            for clip, a in ev.false_alarms
        ],
        "clips": [
            {
                "name": c.name,
                "duration_s": c.duration_s,
                "windows": len(c.windows),
                "alerts": [
                    {
                        "class": a.class_name,
                        "start_s": a.start_s,
                        "raised_s": a.raised_s,
                        "end_s": a.end_s,
                        "peak": a.peak,
                    }
                    for a in c.alerts
                ],
                "note": c.note,
            }
            for c in clips
        ],
        "problems": [{"clip": p.name, "message": p.message} for p in problems],
    }


# -- pictures -------------------------------------------------------------------------------------
def timeline_svg(clip: ClipResult, class_names: Sequence[str], width: int = 900, height: int = 170) -> str:
    """Anomaly and class scores over the clip; labelled incidents as bands, alerts as marks."""
    pad_l, pad_r, pad_t, pad_b = 36, 10, 18, 22
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    span = max(clip.duration_s, max((x.end_s for x in clip.windows), default=1.0), 1e-6)

    def x(t: float) -> float:
        return pad_l + w * min(max(t, 0.0), span) / span

    def y(v: float) -> float:
        return pad_t + h * (1.0 - min(max(v, 0.0), 1.0))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="10">']
    parts.append(f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fafafa" stroke="#ccc"/>')
    for r in clip.incidents:
        parts.append(
            f'<rect x="{x(r.start_s):.1f}" y="{pad_t}" width="{max(1.0, x(r.end_s) - x(r.start_s)):.1f}" '
            f'height="{h}" fill="#e45756" fill-opacity="0.18"><title>labelled {html.escape(r.cls)} '
            f"{r.start_s:g}–{r.end_s:g} s</title></rect>"
        )
        parts.append(
            f'<text x="{x(r.start_s) + 2:.1f}" y="{pad_t + 10}" fill="#b22">{html.escape(r.cls)}</text>'
        )
    series = {"anomaly": [((wd.start_s + wd.end_s) / 2, wd.anomaly) for wd in clip.windows]}
    for name in class_names:
        if name != NORMAL:
            series[name] = [
                ((wd.start_s + wd.end_s) / 2, float(wd.class_probs.get(name, 0.0))) for wd in clip.windows
            ]
    for name, points in series.items():
        if not points:
            continue
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        stroke = 2.0 if name == "anomaly" else 1.2
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{COLORS.get(name, FALLBACK_COLOR)}" '
            f'stroke-width="{stroke}"><title>{html.escape(name)}</title></polyline>'
        )
    for a in clip.alerts:
        color = COLORS.get(a.class_name, FALLBACK_COLOR)
        parts.append(
            f'<line x1="{x(a.start_s):.1f}" x2="{x(a.end_s):.1f}" y1="{pad_t + h + 6}" y2="{pad_t + h + 6}" '
            f'stroke="{color}" stroke-width="4"/>'
        )
        parts.append(
            f'<path d="M{x(a.raised_s):.1f},{pad_t + h + 2} l-5,-9 h10 z" fill="{color}">'
            f"<title>alert {html.escape(a.class_name)} raised at {a.raised_s:.1f} s (peak {a.peak:.2f})</title></path>"
        )
    for v in (0.0, 0.5, 1.0):
        parts.append(f'<text x="4" y="{y(v) + 3:.1f}">{v:g}</text>')
    step = max(1, round(span / 10))
    t = 0
    while t <= span:
        parts.append(f'<text x="{x(t) - 4:.1f}" y="{height - 4}">{t}s</text>')
        t += step
    parts.append("</svg>")
    return "".join(parts)


def pr_svg(
    name: str, labels: Sequence[bool], scores: Sequence[float], ap: float | None, size: int = 220
) -> str:
    """Precision (y) against recall (x) of one class's window scores."""
    pad = 28
    inner = size - 2 * pad
    precision, recall = pr_curve(labels, scores)
    points = " ".join(
        f"{pad + inner * r:.1f},{pad + inner * (1 - p):.1f}" for r, p in zip(recall, precision, strict=True)
    )
    color = COLORS.get(name, FALLBACK_COLOR)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" font-size="10">'
        f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="#fafafa" stroke="#ccc"/>'
        f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>'
        f'<text x="{pad}" y="14">{html.escape(name)}: AP {_num(ap)}</text>'
        f'<text x="{pad}" y="{size - 8}">recall →</text>'
        f'<text x="2" y="{pad + 8}">prec.</text></svg>'
    )


def write_html(
    path: Path,
    ev: Evaluation,
    clips: Sequence[ClipResult],
    problems: Sequence[ClipProblem],
    class_names: Sequence[str],
) -> Path:
    """One self-contained HTML file: the table, PR curves and one timeline per clip."""
    names = [c for c in class_names if c != NORMAL]
    curves = window_table(clips, names)
    body = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Vigil evaluation</title>",
        "<style>body{font-family:sans-serif;margin:1.5em} pre{background:#f4f4f4;padding:1em} "
        ".clip{margin:1em 0}</style></head><body>",
        "<h1>Vigil evaluation</h1>",
        f"<pre>{html.escape(table(ev))}</pre>",
    ]
    if problems:
        body.append("<h2>Clips with problems</h2><ul>")
        body += [f"<li>{html.escape(p.name)}: {html.escape(p.message)}</li>" for p in problems]
        body.append("</ul>")
    body.append("<h2>Precision-recall of window scores</h2><div>")
    for name, (labels, scores) in curves.items():
        if any(labels):
            stats = ev.overall if name == ALL else ev.classes.get(name, ClassStats())
            body.append(pr_svg("anomaly (all)" if name == ALL else name, labels, scores, stats.window_ap))
    body.append("</div><h2>Clips</h2>")
    legend = " ".join(
        f"<span style='color:{COLORS.get(n, FALLBACK_COLOR)}'>■ {html.escape(n)}</span>"
        for n in ["anomaly", *names]
    )
    body.append(f"<p>{legend}; red bands: labelled incidents; ▼ and bars: alerts (raise, incident span)</p>")
    for clip in clips:
        note = f" — {html.escape(clip.note)}" if clip.note else ""
        body.append(
            f"<div class='clip'><h3>{html.escape(clip.name)}{note}</h3>{timeline_svg(clip, names)}</div>"
        )
    body.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(body), encoding="utf-8")
    return path


def write_json(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    return path
