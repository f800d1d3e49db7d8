"""Tiny numpy rasteriser for the synthetic scenes (float32 HxWx3 images in [0, 1])."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.float32]
Color = tuple[float, float, float]


def fill_rect(
    img: Image, x0: float, y0: float, x1: float, y1: float, color: Color, alpha: float = 1.0
) -> None:
    """Blend an axis-aligned rectangle given in normalised [0, 1] coordinates."""
    h, w = img.shape[:2]
    c0, c1 = math.floor(min(x0, x1) * w + 0.5), math.floor(max(x0, x1) * w + 0.5)
    r0, r1 = math.floor(min(y0, y1) * h + 0.5), math.floor(max(y0, y1) * h + 0.5)
    c0, c1, r0, r1 = max(c0, 0), min(c1, w), max(r0, 0), min(r1, h)
    if c1 <= c0 or r1 <= r0:
        return
    region = img[r0:r1, c0:c1]
    region *= 1.0 - alpha
    region += alpha * np.asarray(color, dtype=np.float32)


def fill_disc(
    img: Image, cx: float, cy: float, r: float, color: Color, alpha: float = 1.0, soft: float = 0.0
) -> None:
    """Blend a disc (normalised centre, radius relative to width); ``soft`` > 0 gives a glow."""
    h, w = img.shape[:2]
    rp = max(r * w, 0.6)
    ext = rp * (1.0 + 2.0 * soft) + 1.0
    px, py = cx * w, cy * h
    c0, c1 = max(int(px - ext), 0), min(int(px + ext) + 1, w)
    r0, r1 = max(int(py - ext), 0), min(int(py + ext) + 1, h)
    if c1 <= c0 or r1 <= r0:
        return
    yy, xx = np.mgrid[r0:r1, c0:c1].astype(np.float32)
    d = np.sqrt((xx + 0.5 - px) ** 2 + (yy + 0.5 - py) ** 2)
    if soft > 0:
        a = np.exp(-(np.maximum(d - rp, 0.0) ** 2) / (2 * (soft * rp + 0.5) ** 2))
        a[d <= rp] = 1.0
    else:
        a = np.clip(rp + 0.5 - d, 0.0, 1.0)
    a = (alpha * a)[..., None]
    region = img[r0:r1, c0:c1]
    region *= 1.0 - a
    region += a * np.asarray(color, dtype=np.float32)


def shift(img: Image, dx: int, dy: int) -> Image:
    """Shift the image by whole pixels (camera shake), repeating the edge."""
    if dx == 0 and dy == 0:
        return img
    h, w = img.shape[:2]
    ys = np.clip(np.arange(h) - dy, 0, h - 1)
    xs = np.clip(np.arange(w) - dx, 0, w - 1)
    return img[ys][:, xs]
