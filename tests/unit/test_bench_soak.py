"""The soak benchmark's flatness verdict, its config isolation and its plot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.bench_soak import RTSP_PATHS, flatness, histogram_max, plot, soak_config, tree_rss_mb


def test_flat_after_warm_up_passes() -> None:
    # steep growth in the first third (warm-up) is not judged; the rest stays within 10 %
    points = [(0, 100.0), (60, 160.0), (120, 200.0), (180, 205.0), (240, 210.0), (300, 208.0), (360, 215.0)]
    verdict = flatness(points)
    assert verdict.start == 200.0 and verdict.end == 215.0 and verdict.max == 215.0
    assert verdict.growth == pytest.approx(0.075)
    assert verdict.flat


def test_steady_growth_fails() -> None:
    # 166 MB -> 294 MB over 35 min, growth slowing: still far more than 10 % over the last two thirds
    points = [(60.0 * m, 166 + 128 * (1 - (1 - m / 35) ** 2)) for m in range(36)]
    verdict = flatness(points)
    assert verdict.growth > 0.10
    assert not verdict.flat


def test_a_spike_in_the_middle_fails_even_if_the_end_is_back() -> None:
    points = [(0, 100.0), (10, 100.0), (20, 100.0), (30, 120.0), (40, 100.0), (50, 100.0), (60, 101.0)]
    verdict = flatness(points)
    assert verdict.growth == pytest.approx(0.01)
    assert not verdict.flat


def test_a_drop_beyond_the_tolerance_is_not_flat_either() -> None:
    assert not flatness([(0, 100.0), (10, 100.0), (20, 100.0), (30, 80.0)]).flat


def test_tolerance_is_a_parameter() -> None:
    points = [(0, 100.0), (10, 100.0), (20, 100.0), (30, 108.0)]
    assert flatness(points, 0.10).flat
    assert not flatness(points, 0.05).flat


def test_too_few_samples_are_refused() -> None:
    with pytest.raises(ValueError):
        flatness([(0, 1.0), (10, 1.0)])
    with pytest.raises(ValueError):
        flatness([(0, 1.0), (0, 1.0), (0, 1.0)])


def test_config_is_isolated_per_run_and_uses_every_rtsp_path() -> None:
    a, b = soak_config(8, "aaaa"), soak_config(8, "bbbb")
    cams = a["cameras"]
    assert isinstance(cams, dict) and len(cams) == 8
    assert {c["url"].rsplit("/", 1)[1] for c in cams.values()} == set(RTSP_PATHS)
    for key in ("topics", "fusion", "alert", "redis"):
        assert a[key] != b[key]
    assert a["topics"]["video"] != "vigil.video.v1"  # type: ignore[index]


def test_tree_rss_counts_this_process() -> None:
    assert tree_rss_mb(os.getpid()) > 1.0


def test_plot_writes_a_png(tmp_path: Path) -> None:
    from PIL import Image

    rows = [
        {"t_s": 60.0 * i, "ingest_rss_mb": 150.0, "fusion_rss_mb": 200.0 + i, "alert_rss_mb": 90.0}
        for i in range(6)
    ]
    path = tmp_path / "soak.png"
    plot(rows, path, "test")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (900, 480)


def test_histogram_max_is_the_smallest_bucket_holding_every_observation() -> None:
    text = "\n".join(
        [
            "# HELP vigil_fusion_batch_size x",
            'vigil_fusion_batch_size_bucket{le="1.0"} 3.0',
            'vigil_fusion_batch_size_bucket{le="2.0"} 5.0',
            'vigil_fusion_batch_size_bucket{le="4.0"} 9.0',
            'vigil_fusion_batch_size_bucket{le="8.0"} 10.0',
            'vigil_fusion_batch_size_bucket{le="16.0"} 10.0',
            'vigil_fusion_batch_size_bucket{le="+Inf"} 10.0',
            "vigil_fusion_batch_size_count 10.0",
            "vigil_fusion_batch_size_sum 30.0",
        ]
    )
    assert histogram_max("vigil_fusion_batch_size", text) == 8.0
    assert histogram_max("vigil_fusion_batch_size", "") == 0.0
