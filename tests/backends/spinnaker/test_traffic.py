"""Traffic counts: a fresh record has a zero load per link of every chip, `dropped` sums the
three kinds of drop, and the JSON form holds every count but the load array."""

from __future__ import annotations

from snapdeploy.backends.spinnaker.mesh import N_LINKS
from snapdeploy.backends.spinnaker.traffic import TrafficStats


def test_counts_and_their_json() -> None:
    stats = TrafficStats.zeros(3)
    assert stats.link_load.shape == (3, N_LINKS) and not stats.link_load.any()
    stats.dropped_link_capacity, stats.dropped_no_route, stats.dropped_no_link = 1, 2, 4
    stats.misdelivered = 8
    counts = stats.to_json()
    assert stats.dropped == counts["dropped"] == 7
    assert "link_load" not in counts and counts["misdelivered"] == 8
    assert set(counts) == {*vars(stats)} - {"link_load"} | {"dropped"}
