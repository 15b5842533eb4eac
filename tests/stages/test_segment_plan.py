from __future__ import annotations

import itertools

import pytest

from emodata.stages.segment import plan_clips


def test_single_scene_within_bounds():
    clips, dropped = plan_clips(8.0, [], min_s=1.0, max_s=20.0)
    assert [(c.start_s, c.end_s, c.boundary) for c in clips] == [(0.0, 8.0, "start")]
    assert dropped == []


def test_cuts_split_scenes_and_short_scenes_are_dropped():
    clips, dropped = plan_clips(10.0, [0.5, 4.0, 9.7], min_s=1.0, max_s=20.0)
    assert [(c.start_s, c.end_s, c.boundary) for c in clips] == [
        (0.5, 4.0, "scene"),
        (4.0, 9.7, "scene"),
    ]
    assert dropped == [(0.0, 0.5), (9.7, 10.0)]


def test_long_scene_is_split_into_equal_parts():
    clips, _ = plan_clips(25.0, [], min_s=1.0, max_s=10.0)
    assert len(clips) == 3
    lengths = [c.end_s - c.start_s for c in clips]
    assert max(lengths) - min(lengths) < 0.01
    assert all(length <= 10.0 + 1e-3 for length in lengths)
    assert [c.boundary for c in clips] == ["start", "split", "split"]
    assert clips[-1].end_s == 25.0


@pytest.mark.parametrize("duration", [1.0, 7.3, 20.0, 20.001, 59.999, 3600.0])
def test_clips_tile_the_kept_time(duration):
    clips, dropped = plan_clips(duration, [duration / 3], min_s=0.5, max_s=20.0)
    spans = sorted([(c.start_s, c.end_s) for c in clips] + dropped)
    assert spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(duration, abs=1e-3)
    for (_, b), (c, _) in itertools.pairwise(spans):
        assert b == pytest.approx(c, abs=1e-9)


def test_cuts_at_the_very_edges_are_ignored():
    clips, dropped = plan_clips(5.0, [0.0, 0.01, 4.99, 5.0], min_s=1.0, max_s=20.0)
    assert [(c.start_s, c.end_s) for c in clips] == [(0.0, 5.0)]
    assert dropped == []
