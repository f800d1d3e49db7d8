"""How ``vigil evaluate`` shows its results: a terminal table, a JSON document, one HTML report.

The HTML report is a single file with its pictures embedded as PNGs, drawn with Pillow
(:mod:`services.evaluate.plot`; no plotting library needed) and also written to ``pictures/``
next to it, to attach to a ticket: per clip a timeline of the anomaly and class scores with the
labelled incidents as bands and the alerts as marks, and a precision-recall curve per class.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

from services.evaluate.footage import ClipProblem
from services.evaluate.plot import INK, MUTED, RGB, Axes, Canvas, nice_ticks
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
BAND_ALPHA = 0.16  # opacity of a labelled incident's band over the plot's background
PICTURES_DIR = "pictures"  # next to report.html: the same PNGs, to attach to a ticket


def _span(clip: ClipResult) -> float:
    return max(clip.duration_s, max((x.end_s for x in clip.windows), default=1.0), 1e-6)


def _series(clip: ClipResult, class_names: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
    mid = [(wd.start_s + wd.end_s) / 2 for wd in clip.windows]
    series = {"anomaly": [(t, wd.anomaly) for t, wd in zip(mid, clip.windows, strict=True)]}
    for name in class_names:
        if name != NORMAL:
            series[name] = [
                (t, float(wd.class_probs.get(name, 0.0))) for t, wd in zip(mid, clip.windows, strict=True)
            ]
    return series


def draw_timeline(clip: ClipResult, class_names: Sequence[str], width: float = 900) -> tuple[Canvas, Axes]:
    """Anomaly and class scores over the clip; labelled incidents as bands, alerts as marks below.

    Returns the canvas and the score axes (which map times and scores to pixels); the picture's
    height is the canvas's ``height``.
    """
    span = _span(clip)
    series = _series(clip, class_names)
    pad_l, pad_r = 58.0, 16.0
    c = Canvas(width, 600)
    note = f"  ({clip.note})" if clip.note else ""
    c.text(pad_l, 8, f"{clip.name}: {span:.0f} s{note}", INK, 13)
    items: list[tuple[str, str | RGB, str]] = [(n, COLORS.get(n, FALLBACK_COLOR), "line") for n in series]
    items += [("labelled incident", "#888888", "band"), ("alert (raised, span)", "#888888", "mark")]
    top = c.legend(items, pad_l, 30, width - pad_l - pad_r, 11) + 22  # room for the bands' labels
    ax = Axes(c, (pad_l, top, width - pad_r, top + 150), (0.0, span), (0.0, 1.0))
    x_ticks, y_ticks = nice_ticks(0.0, span, 12), [0.0, 0.25, 0.5, 0.75, 1.0]
    ax.background(x_ticks, y_ticks)
    for r in clip.incidents:
        ax.band(r.start_s, r.end_s, COLORS.get(r.cls, FALLBACK_COLOR), BAND_ALPHA, r.cls)
    for name, points in series.items():
        ax.polyline(points, COLORS.get(name, FALLBACK_COLOR), 1.6 if name == "anomaly" else 1.1)
    lane = ax.box[3] + 5  # the alerts' lane under the plot: a triangle at the raise, a bar for the span
    c.text(pad_l - 5, lane + 7, "alerts", MUTED, 10, align="right", valign="middle")
    for a in clip.alerts:
        color = COLORS.get(a.class_name, FALLBACK_COLOR)
        c.rect((ax.x(a.start_s), lane + 7, max(ax.x(a.end_s), ax.x(a.start_s) + 2), lane + 12), fill=color)
        xr = ax.x(a.raised_s)
        c.polygon([(xr - 4, lane), (xr + 4, lane), (xr, lane + 7)], fill=color)
    bottom = ax.frame(x_ticks, y_ticks, "time (s)", "score", x_tick_gap=19)
    c.height = bottom + 6
    return c, ax


def timeline_png(clip: ClipResult, class_names: Sequence[str], width: float = 900) -> bytes:
    """:func:`draw_timeline` as PNG bytes (drawn at twice ``width``)."""
    c, _ = draw_timeline(clip, class_names, width)
    return c.png(c.height)


def pr_png(
    name: str,
    labels: Sequence[bool],
    scores: Sequence[float],
    ap: float | None,
    color: str | None = None,
    size: float = 320,
) -> bytes:
    """Precision (y) against recall (x) of one class's window scores, its AP in the legend."""
    color = color or COLORS.get(name, FALLBACK_COLOR)
    precision, recall = pr_curve(labels, scores)
    pad_l, pad_r = 58.0, 14.0
    c = Canvas(size, 600)
    c.text(pad_l, 8, "precision-recall of window scores", INK, 12)
    ap_text = "n/a" if ap is None else f"{ap:.2f}"
    top = c.legend([(f"{name}: AP {ap_text}", color, "line")], pad_l, 28, size - pad_l - pad_r) + 10
    side = size - pad_l - pad_r
    ax = Axes(c, (pad_l, top, pad_l + side, top + side), (0.0, 1.0), (0.0, 1.0))
    ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ax.background(ticks, ticks)
    if len(recall):
        ax.polyline(zip(recall.tolist(), precision.tolist(), strict=True), color, 1.6)
    else:
        c.text((ax.box[0] + ax.box[2]) / 2, ax.y(0.5), "no positive windows", MUTED, 11, "center", "middle")
    bottom = ax.frame(ticks, ticks, "recall", "precision")
    return c.png(bottom + 6)


def _file_stem(name: str, taken: set[str]) -> str:
    """``name`` without its extension, safe as a file name (``/`` and the like as ``_``), not in ``taken``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(PurePath(name).with_suffix(""))).strip("._") or "clip"
    unique, n = stem, 1
    while unique.lower() in taken:
        n += 1
        unique = f"{stem}-{n}"
    taken.add(unique.lower())
    return unique


def _img(data: bytes, alt: str, width: float) -> str:
    return (
        f"<img src='data:image/png;base64,{base64.b64encode(data).decode('ascii')}' "
        f"alt='{html.escape(alt, quote=True)}' width='{width:g}'>"
    )


def _timeline_alt(clip: ClipResult) -> str:
    incidents = "; ".join(f"{r.cls} {r.start_s:g}-{r.end_s:g} s" for r in clip.incidents) or "none"
    alerts = "; ".join(f"{a.class_name} raised at {a.raised_s:.1f} s" for a in clip.alerts) or "none"
    return (
        f"Timeline of {clip.name} ({_span(clip):.0f} s): anomaly and class scores per window. "
        f"Labelled incidents: {incidents}. Alerts: {alerts}."
    )


def write_html(
    path: Path,
    ev: Evaluation,
    clips: Sequence[ClipResult],
    problems: Sequence[ClipProblem],
    class_names: Sequence[str],
) -> Path:
    """One self-contained HTML file: the table, PR curves and one timeline per clip.

    The pictures are PNGs embedded in the page and also written to ``pictures/`` next to it
    (``pr-<class>.png``, ``timeline-<clip>.png``; earlier ones there are replaced).
    """
    names = [c for c in class_names if c != NORMAL]
    curves = window_table(clips, names)
    pictures = path.parent / PICTURES_DIR
    pictures.mkdir(parents=True, exist_ok=True)
    for old in [*pictures.glob("pr-*.png"), *pictures.glob("timeline-*.png")]:
        old.unlink()

    def picture(file_name: str, data: bytes, alt: str, width: float) -> str:
        (pictures / file_name).write_bytes(data)
        return _img(data, alt, width)

    body = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Vigil evaluation</title>",
        "<style>body{font-family:sans-serif;margin:1.5em} pre{background:#f4f4f4;padding:1em} "
        ".clip{margin:1em 0} img{max-width:100%;height:auto}</style></head><body>",
        "<h1>Vigil evaluation</h1>",
        f"<pre>{html.escape(table(ev))}</pre>",
    ]
    if problems:
        body.append("<h2>Clips with problems</h2><ul>")
        body += [f"<li>{html.escape(p.name)}: {html.escape(p.message)}</li>" for p in problems]
        body.append("</ul>")
    body.append("<h2>Precision-recall of window scores</h2><div>")
    taken: set[str] = set()  # file stems of the PR pictures, then of the timelines
    for name, (labels, scores) in curves.items():
        if any(labels):
            stats = ev.overall if name == ALL else ev.classes.get(name, ClassStats())
            label = "anomaly (all)" if name == ALL else name
            color = COLORS["anomaly"] if name == ALL else None
            data = pr_png(label, labels, scores, stats.window_ap, color)
            alt = f"Precision-recall curve of the {label} window scores, AP {_num(stats.window_ap)}"
            body.append(picture(f"pr-{_file_stem(name, taken)}.png", data, alt, 320))
    body.append("</div><h2>Clips</h2>")
    body.append(
        "<p>Tinted bands: labelled incidents; triangles and bars under each timeline: alerts "
        f"(raise time, incident span), coloured by class. Each picture is also in {PICTURES_DIR}/.</p>"
    )
    taken.clear()
    for clip in clips:
        note = f" — {html.escape(clip.note)}" if clip.note else ""
        img = picture(
            f"timeline-{_file_stem(clip.name, taken)}.png",
            timeline_png(clip, names),
            _timeline_alt(clip),
            900,
        )
        body.append(f"<div class='clip'><h3>{html.escape(clip.name)}{note}</h3>{img}</div>")
    body.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(body), encoding="utf-8")
    return path


def write_json(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    return path
