"""The capacity ramp of `vigil bench e2e` finds the true limit, not the cap it was given."""

from __future__ import annotations

import pytest

from bench.bench_e2e import ramp


@pytest.mark.parametrize("limit", [0, 1, 5, 13, 23, 63])
def test_ramp_finds_the_largest_sustained_count(limit: int) -> None:
    found, tried = ramp(lambda k: k <= limit, start=1, limit=64)
    assert found == limit
    assert len(tried) <= 2 * 7  # doubling then bisecting, never a linear walk


def test_ramp_stops_at_its_safety_limit() -> None:
    assert ramp(lambda k: True, start=1, limit=64)[0] == 64


def test_ramp_from_a_later_start() -> None:
    found, tried = ramp(lambda k: k <= 9, start=3, limit=64)
    assert found == 9 and tried[0] == (3, True)
