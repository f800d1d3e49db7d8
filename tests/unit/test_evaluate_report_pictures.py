"""The pictures of ``vigil evaluate``'s HTML report: PNGs embedded in the page and written next to it."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.realclips import LabelledRange
from services.evaluate import report
from services.evaluate.plot import PLOT_BG, blend, nice_ticks, rgb
from services.evaluate.scoring import AlertSpan, ClipResult, ScoredWindow, evaluate

CLASSES = ["normal", "fight", "scream"]
IMG = re.compile(r"<img src='data:image/png;base64,([A-Za-z0-9+/=]+)' alt='([^']*)' width='(\d+)'>")


def window(t: float, anomaly: float, fight: float = 0.05, scream: float = 0.05) -> ScoredWindow:
    return ScoredWindow(t, t + 2.0, anomaly, {"normal": 1 - anomaly, "fight": fight, "scream": scream})


def fight_clip() -> ClipResult:
    """A 30 s clip with a fight labelled 10-16 s, scored low (0.1) except in it, and one fight alert."""
    windows = tuple(
        window(float(t), 0.9, fight=0.8) if 10 <= t <= 14 else window(float(t), 0.1) for t in range(29)
    )
    return ClipResult(
        name="cams/gate 3/fight #1.mp4",
        duration_s=30.0,
        incidents=(LabelledRange(10.0, 16.0, "fight"),),
        windows=windows,
        alerts=(AlertSpan("fight", start_s=10.0, raised_s=12.0, end_s=17.0, peak=0.9),),
    )


def empty_clip() -> ClipResult:
    """A clip that produced no windows (too short for one) and no alerts."""
    return ClipResult(name="short.mp4", duration_s=0.0, incidents=(), windows=(), alerts=(), note="too short")


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image.convert("RGB")


def write(tmp_path: Path, clips: list[ClipResult]) -> str:
    path = report.write_html(tmp_path / "report.html", evaluate(clips, CLASSES), clips, [], CLASSES)
    return path.read_text(encoding="utf-8")


def test_the_html_embeds_decodable_pngs_that_are_also_written_to_pictures(tmp_path: Path) -> None:
    page = write(tmp_path, [fight_clip(), empty_clip()])
    assert "<svg" not in page
    found = IMG.findall(page)
    # PR curves of the classes with positive windows (fight, all), then a timeline per clip
    assert len(found) == 4
    embedded = [base64.b64decode(b64, validate=True) for b64, _, _ in found]
    for data, (_, _, width) in zip(embedded, found, strict=True):
        image = png(data)
        assert image.width == 2 * int(width)  # drawn at 2x the size it is shown at
        assert image.width in (640, 1800) and 400 <= image.height <= 1000
    files = sorted((tmp_path / "pictures").iterdir())
    assert [f.name for f in files] == [
        "pr-all.png",
        "pr-fight.png",
        "timeline-cams_gate_3_fight_1.png",
        "timeline-short.png",
    ]
    assert sorted(f.read_bytes() for f in files) == sorted(embedded)
    alts = [alt for _, alt, _ in found]
    assert "fight window scores" in alts[0] or "fight window scores" in alts[1]
    assert any("Timeline of cams/gate 3/fight #1.mp4" in a and "fight 10-16 s" in a for a in alts)
    assert any("fight raised at 12.0 s" in a for a in alts)


def test_a_second_report_replaces_the_pictures_of_the_first(tmp_path: Path) -> None:
    write(tmp_path, [fight_clip(), empty_clip()])
    write(tmp_path, [empty_clip()])
    assert sorted(f.name for f in (tmp_path / "pictures").iterdir()) == ["timeline-short.png"]


def test_a_labelled_incident_is_a_band_of_its_class_tint(tmp_path: Path) -> None:
    canvas, ax = report.draw_timeline(fight_clip(), CLASSES)
    image = png(report.timeline_png(fight_clip(), CLASSES))
    assert image.size == (canvas.image.width, round(canvas.height * canvas.scale))
    # score 0.6 is away from every curve (0.05, 0.1, 0.8, 0.9) and grid line (0.5, 0.75)
    inside = image.getpixel(ax.pixel(13.0, 0.6))
    outside = image.getpixel(ax.pixel(22.0, 0.6))
    before = image.getpixel(ax.pixel(7.0, 0.6))  # (grid lines every 5 s)
    tint = blend(report.COLORS["fight"], report.BAND_ALPHA)
    assert inside == pytest.approx(tint, abs=2)
    assert inside[0] - inside[1] > 20  # reddish, as fight's colour is
    assert outside == before == PLOT_BG


def test_curves_and_alerts_are_drawn_in_their_colours(tmp_path: Path) -> None:
    canvas, ax = report.draw_timeline(fight_clip(), CLASSES)
    image = png(canvas.png(canvas.height))
    x, y = ax.pixel(5.0, 0.1)  # the anomaly score's flat stretch before the fight
    column = [image.getpixel((x, y + dy)) for dy in range(-3, 4)]
    assert rgb(report.COLORS["anomaly"]) in column
    # the alert's span: a bar in the fight colour in the lane under the plot
    bar_x = ax.pixel(15.0, 0.0)[0]
    below = [image.getpixel((bar_x, y)) for y in range(ax.pixel(0, 0)[1] + 2, ax.pixel(0, 0)[1] + 40)]
    assert rgb(report.COLORS["fight"]) in below
    no_alert_x = ax.pixel(25.0, 0.0)[0]
    below = [image.getpixel((no_alert_x, y)) for y in range(ax.pixel(0, 0)[1] + 2, ax.pixel(0, 0)[1] + 20)]
    assert rgb(report.COLORS["fight"]) not in below


def test_a_clip_without_windows_and_a_class_without_positives_still_draw() -> None:
    image = png(report.timeline_png(empty_clip(), CLASSES))
    assert image.width == 1800 and image.height > 200
    none = png(report.pr_png("scream", [False] * 4, [0.2, 0.1, 0.4, 0.3], None))
    some = png(report.pr_png("scream", [False, True, False, True], [0.2, 0.1, 0.4, 0.3], 0.5))
    assert none.size == some.size
    purple = np.array(rgb(report.COLORS["scream"]))

    def count(image: Image.Image) -> int:
        return int((np.asarray(image) == purple).all(axis=-1).sum())

    # the curve's colour appears only in the legend's swatch when there is no curve
    assert 0 < count(none) < count(some) / 2


def test_file_names_are_safe_and_distinct() -> None:
    taken: set[str] = set()
    assert report._file_stem("a/b c.mp4", taken) == "a_b_c"
    assert report._file_stem("a/b c.mkv", taken) == "a_b_c-2"
    assert report._file_stem("../../etc/passwd", taken) == "etc_passwd"


@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [(0, 30, [0, 5, 10, 15, 20, 25, 30]), (0, 1, [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1])],
)
def test_nice_ticks(lo: float, hi: float, ticks: list[float]) -> None:
    assert nice_ticks(lo, hi, 10) == pytest.approx(ticks)
