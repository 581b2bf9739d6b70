"""join_segments: loose 2-point segments (polygonal HLR, meshes) joined into polylines."""

from __future__ import annotations

import numpy as np
import pytest

from renderers.drawing import join_segments


def _shuffled(segments: np.ndarray, seed: int = 0) -> np.ndarray:
    """The same segments in random order, about half of them reversed."""
    rng = np.random.default_rng(seed)
    out = segments[rng.permutation(len(segments))].copy()
    flip = rng.random(len(out)) < 0.5
    out[flip] = out[flip][:, ::-1]
    return out


def _length(polys) -> float:
    return float(sum(np.linalg.norm(np.diff(p, axis=0), axis=1).sum() for p in polys))


def test_a_shuffled_polygon_becomes_one_closed_polyline():
    t = np.linspace(0, 2 * np.pi, 101)[:-1]
    ring = np.c_[np.cos(t), np.sin(t)]
    segments = np.stack([ring, np.roll(ring, -1, axis=0)], axis=1)
    (loop,) = join_segments(_shuffled(segments)).arrays()
    assert len(loop) == 101 and np.array_equal(loop[0], loop[-1])
    chord = np.linalg.norm(ring[1] - ring[0])
    assert np.allclose(np.linalg.norm(np.diff(loop, axis=0), axis=1), chord)  # neighbours on the ring
    assert {tuple(p) for p in loop} == {tuple(p) for p in ring}


def test_an_open_path_is_walked_from_one_end_to_the_other():
    path = np.array([[0, 0], [1, 0], [1, 1], [2, 1], [2, 3], [0, 4]], dtype=float)
    segments = np.stack([path[:-1], path[1:]], axis=1)
    (line,) = join_segments(_shuffled(segments, seed=3)).arrays()
    assert np.array_equal(line, path) or np.array_equal(line, path[::-1])


def test_three_ends_at_one_point_stay_apart_and_zero_length_segments_are_kept_last():
    tee = np.array([[[0, 0], [1, 0]], [[1, 0], [2, 0]], [[1, 0], [1, 1]]], dtype=float)
    dot = np.array([[[5, 5], [5, 5]]], dtype=float)
    joined = join_segments(np.concatenate([dot, tee]))
    polys = joined.arrays()
    assert [len(p) for p in polys] == [2, 2, 2, 2]
    assert np.array_equal(polys[-1], dot[0])
    assert _length(polys) == _length(list(tee))


def test_separate_chains_keep_their_length_and_the_order_is_deterministic():
    a = np.array([[0, 0], [1, 0], [2, 0]], dtype=float)
    b = np.array([[0, 5], [0, 6], [1, 7], [3, 7]], dtype=float)
    segments = np.concatenate([np.stack([p[:-1], p[1:]], axis=1) for p in (a, b)])
    once, again = join_segments(_shuffled(segments, 7)), join_segments(_shuffled(segments, 7))
    assert np.array_equal(once.points, again.points) and np.array_equal(once.starts, again.starts)
    assert sorted(len(p) for p in once.arrays()) == [3, 4]
    assert _length(once.arrays()) == pytest.approx(2.0 + 1.0 + np.sqrt(2.0) + 2.0)


def test_no_segments():
    joined = join_segments(np.zeros((0, 2, 2)))
    assert len(joined) == 0 and joined.points.shape == (0, 2)
