"""Small PNG pictures drawn with Pillow: a canvas, axes that map data to pixels, a legend.

Enough for the pictures of ``vigil evaluate``'s report (score timelines, precision-recall curves)
without a plotting library. Positions given to :class:`Canvas` are logical points; the image is
``scale`` times larger, so it stays sharp on high-density screens when shown at its logical size.
Text uses Pillow's scalable default font and ASCII (the font has few other glyphs).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]
PAPER: RGB = (255, 255, 255)
PLOT_BG: RGB = (250, 250, 250)
GRID: RGB = (228, 228, 228)
FRAME: RGB = (160, 160, 160)
INK: RGB = (34, 34, 34)
MUTED: RGB = (100, 100, 100)


def rgb(color: str | RGB) -> RGB:
    """``"#rrggbb"`` (or an RGB tuple) as an RGB tuple."""
    if isinstance(color, tuple):
        return color
    c = color.lstrip("#")
    return (int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16))


def darker(color: str | RGB, factor: float = 0.7) -> RGB:
    """``color`` scaled towards black (for text on a tint of the same colour)."""
    r, g, b = rgb(color)
    return (round(r * factor), round(g * factor), round(b * factor))


def blend(color: str | RGB, alpha: float, under: RGB = PLOT_BG) -> RGB:
    """``color`` at opacity ``alpha`` over ``under``: the tint of a translucent band."""
    c = rgb(color)
    return (
        round(c[0] * alpha + under[0] * (1 - alpha)),
        round(c[1] * alpha + under[1] * (1 - alpha)),
        round(c[2] * alpha + under[2] * (1 - alpha)),
    )


@lru_cache(maxsize=32)
def font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's default font at ``px`` pixels."""
    return ImageFont.load_default(size=px)


def nice_ticks(lo: float, hi: float, max_ticks: int = 10) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) from ``lo`` to ``hi``."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max_ticks
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9) * step
    n = math.floor((hi - first) / step + 1e-9) + 1
    return [round(first + i * step, 9) for i in range(n)]


def fmt_tick(v: float) -> str:
    """A tick value without needless digits (``5``, ``0.25``)."""
    return f"{v:.6g}"


class Canvas:
    """A white picture of ``width`` x ``height`` logical points drawn at ``scale`` pixels a point."""

    def __init__(self, width: float, height: float, scale: int = 2) -> None:
        self.width, self.height, self.scale = width, height, scale
        self.image = Image.new("RGB", (round(width * scale), round(height * scale)), PAPER)
        self._draw = ImageDraw.Draw(self.image, "RGBA")  # "RGBA": translucent fills blend

    def _xy(self, x: float, y: float) -> tuple[float, float]:
        return (x * self.scale, y * self.scale)

    def _font(self, size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        return font(round(size * self.scale))

    def text_width(self, s: str, size: float = 11) -> float:
        """Width of ``s`` in points."""
        return float(self._font(size).getlength(s)) / self.scale

    def line(self, points: Sequence[tuple[float, float]], color: str | RGB, width: float = 1.0) -> None:
        """A polyline through ``points`` (a dot when there is one point)."""
        px = [self._xy(x, y) for x, y in points]
        w = max(1, round(width * self.scale))
        if len(px) == 1:
            (x, y), r = px[0], w
            self._draw.ellipse((x - r, y - r, x + r, y + r), fill=rgb(color))
        elif px:
            self._draw.line(px, fill=rgb(color), width=w, joint="curve")

    def rect(
        self,
        box: tuple[float, float, float, float],
        fill: str | RGB | None = None,
        alpha: float = 1.0,
        outline: str | RGB | None = None,
    ) -> None:
        """A rectangle (left, top, right, bottom), its fill at opacity ``alpha``."""
        x0, y0 = self._xy(box[0], box[1])
        x1, y1 = self._xy(box[2], box[3])
        ink = None if fill is None else (*rgb(fill), round(255 * alpha))
        edge = None if outline is None else rgb(outline)
        self._draw.rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), fill=ink, outline=edge)

    def polygon(self, points: Sequence[tuple[float, float]], fill: str | RGB) -> None:
        """A filled polygon."""
        self._draw.polygon([self._xy(x, y) for x, y in points], fill=rgb(fill))

    def text(
        self,
        x: float,
        y: float,
        s: str,
        color: str | RGB = INK,
        size: float = 11,
        align: str = "left",
        valign: str = "top",
    ) -> None:
        """``s`` placed by its left/center/right edge and its top/middle/bottom (of capitals)."""
        f = self._font(size)
        w = float(f.getlength(s))
        _, top, _, bottom = f.getbbox("H")
        px, py = self._xy(x, y)
        px -= {"left": 0.0, "center": w / 2, "right": w}[align]
        py -= {"top": top, "middle": (top + bottom) / 2, "bottom": bottom}[valign]
        self._draw.text((px, py), s, fill=rgb(color), font=f)

    def vtext(self, x: float, y: float, s: str, color: str | RGB = INK, size: float = 11) -> None:
        """``s`` turned a quarter left (reading upwards), centred on (x, y)."""
        f = self._font(size)
        left, top, right, bottom = f.getbbox(s)
        mask = Image.new("L", (max(1, int(right - left) + 2), max(1, int(bottom - top) + 2)), 0)
        ImageDraw.Draw(mask).text((1 - left, 1 - top), s, fill=255, font=f)
        mask = mask.rotate(90, expand=True)
        px, py = self._xy(x, y)
        self.image.paste(rgb(color), (round(px - mask.width / 2), round(py - mask.height / 2)), mask)

    def legend(
        self,
        items: Sequence[tuple[str, str | RGB, str]],
        x: float,
        y: float,
        max_width: float,
        size: float = 11,
    ) -> float:
        """Entries (label, colour, ``"line"`` | ``"band"`` | ``"mark"``) flowed in rows; returns the bottom."""
        swatch, gap, row_h = 18.0, 14.0, size + 7
        cx, cy = x, y
        for label, color, kind in items:
            w = swatch + 4 + self.text_width(label, size)
            if cx > x and cx + w > x + max_width:
                cx, cy = x, cy + row_h
            mid = cy + size / 2
            if kind == "band":
                self.rect((cx, cy - 1, cx + swatch, cy + size + 1), fill=color, alpha=0.25)
            elif kind == "mark":
                self.polygon([(cx + 5, mid - 2), (cx + 13, mid - 2), (cx + 9, mid + 4)], fill=color)
                self.rect((cx, mid + 4, cx + swatch, mid + 6), fill=color)
            else:
                self.line([(cx, mid), (cx + swatch, mid)], color, 2.0)
            self.text(cx + swatch + 4, mid, label, INK, size, valign="middle")
            cx += w + gap
        return cy + size

    def png(self, height: float | None = None) -> bytes:
        """The picture as PNG bytes, cut to ``height`` points when given."""
        image = self.image
        if height is not None:
            image = image.crop((0, 0, image.width, min(image.height, round(height * self.scale))))
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()


@dataclass
class Axes:
    """A plot area of ``canvas`` (logical box) showing data ``x_range`` x ``y_range``."""

    canvas: Canvas
    box: tuple[float, float, float, float]  # left, top, right, bottom in points
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def x(self, v: float) -> float:
        """Data x to points, clamped to the plot area."""
        (lo, hi), (left, _, right, _) = self.x_range, self.box
        f = (v - lo) / (hi - lo) if hi > lo else 0.0
        return left + (right - left) * min(max(f, 0.0), 1.0)

    def y(self, v: float) -> float:
        """Data y to points (up is larger), clamped to the plot area."""
        (lo, hi), (_, top, _, bottom) = self.y_range, self.box
        f = (v - lo) / (hi - lo) if hi > lo else 0.0
        return bottom - (bottom - top) * min(max(f, 0.0), 1.0)

    def pixel(self, x: float, y: float) -> tuple[int, int]:
        """The image pixel of data point (x, y)."""
        s = self.canvas.scale
        return (int(self.x(x) * s), int(self.y(y) * s))

    def background(self, x_ticks: Iterable[float], y_ticks: Iterable[float]) -> None:
        """The plot area's fill and grid lines at the ticks."""
        left, top, right, bottom = self.box
        self.canvas.rect(self.box, fill=PLOT_BG)
        for t in x_ticks:
            self.canvas.line([(self.x(t), top), (self.x(t), bottom)], GRID, 0.5)
        for v in y_ticks:
            self.canvas.line([(left, self.y(v)), (right, self.y(v))], GRID, 0.5)

    def frame(
        self,
        x_ticks: Sequence[float],
        y_ticks: Sequence[float],
        x_label: str,
        y_label: str,
        x_fmt: Callable[[float], str] = fmt_tick,
        y_fmt: Callable[[float], str] = fmt_tick,
        x_tick_gap: float = 4.0,
        size: float = 10,
    ) -> float:
        """Border, tick labels and axis titles; returns the bottom of the x title."""
        c, (left, top, right, bottom) = self.canvas, self.box
        c.rect(self.box, outline=FRAME)
        for v in y_ticks:
            c.line([(left - 3, self.y(v)), (left, self.y(v))], FRAME, 0.5)
            c.text(left - 5, self.y(v), y_fmt(v), MUTED, size, align="right", valign="middle")
        label_top = bottom + x_tick_gap
        for t in x_ticks:
            c.line([(self.x(t), bottom), (self.x(t), bottom + 3)], FRAME, 0.5)
            c.text(self.x(t), label_top, x_fmt(t), MUTED, size, align="center")
        c.text((left + right) / 2, label_top + size + 5, x_label, INK, size + 1, align="center")
        widest = max((c.text_width(y_fmt(v), size) for v in y_ticks), default=0.0)
        c.vtext(left - 5 - widest - 5 - size / 2, (top + bottom) / 2, y_label, INK, size + 1)
        return label_top + 2 * size + 6

    def polyline(self, points: Iterable[tuple[float, float]], color: str | RGB, width: float = 1.0) -> None:
        """Data points joined by straight lines."""
        self.canvas.line([(self.x(a), self.y(b)) for a, b in points], color, width)

    def band(
        self, x0: float, x1: float, color: str | RGB, alpha: float, label: str = "", size: float = 10
    ) -> None:
        """A translucent full-height band from data x0 to x1, labelled just above the plot area."""
        left, right = self.x(x0), self.x(x1)
        _, top, _, bottom = self.box
        self.canvas.rect((left, top, max(right, left + 1), bottom), fill=color, alpha=alpha)
        if label:
            self.canvas.text(left, top - 3, label, darker(color), size, valign="bottom")
