"""Maps without labels: correlation statistics that merge exactly, and layouts that put
units moving together next to each other."""

import numpy as np
import pytest

from deepbrain.errors import DeepbrainError
from deepbrain.layermap import read_layer_map
from deepbrain.maps.unlabelled import (TimeCourseStats, correlation_keeping,
                                       unlabelled_layer_map, write_unlabelled_layer)


def grouped_activations(rng, frames, groups=6, per_group=20, noise=0.3):
    """Units in groups that share a hidden time course (plus their own noise)."""
    sources = np.maximum(rng.standard_normal((frames, groups)).cumsum(axis=0) * 0.2, 0)
    x = np.repeat(sources, per_group, axis=1) + noise * rng.standard_normal(
        (frames, groups * per_group))
    return np.maximum(x, 0).astype(np.float32)


def test_correlation_equals_numpy_and_jobs_merge_exactly():
    rng = np.random.default_rng(0)
    utts = [{1: grouped_activations(rng, n), 2: rng.standard_normal((n, 7)).astype(np.float32)}
            for n in (50, 80, 33)]
    whole = TimeCourseStats({1: 120, 2: 7})
    for u in utts:
        whole.add(u)
    a, b = TimeCourseStats({1: 120, 2: 7}), TimeCourseStats({1: 120, 2: 7})
    a.add(utts[0])
    b.add(utts[1])
    b.add(utts[2])
    a.merge(b)
    for k in (1, 2):
        frames = np.concatenate([u[k] for u in utts]).astype(np.float64)
        want = np.corrcoef(frames.T)
        r, dead = whole.correlation(k)
        live = ~dead
        np.testing.assert_allclose(r[np.ix_(live, live)], want[np.ix_(live, live)], atol=1e-9)
        np.testing.assert_allclose(a.correlation(k)[0], r, atol=1e-9)
    assert whole.frames == a.frames == 163


def test_dead_units_correlate_with_nothing():
    x = np.random.default_rng(1).standard_normal((40, 5)).astype(np.float32)
    x[:, 2] = 0.0
    stats = TimeCourseStats({1: 5})
    stats.add({1: x})
    r, dead = stats.correlation(1)
    assert dead.tolist() == [False, False, True, False, False]
    assert r[2, 2] == 1 and not np.any(r[2, [0, 1, 3, 4]]) and np.all(np.isfinite(r))


def test_groups_that_move_together_sit_together(tmp_path):
    rng = np.random.default_rng(2)
    stats = TimeCourseStats({3: 120})
    for _ in range(4):
        stats.add({3: grouped_activations(rng, 400)})
    lmap, summary = unlabelled_layer_map(stats, 3, seed=0, perplexity=10, neighbours=10)
    group = np.repeat(np.arange(6), 20)
    from scipy.spatial import cKDTree
    near = cKDTree(lmap.vertices).query(lmap.vertices, 6)[1][:, 1:]
    assert np.mean(group[near] == group[:, None]) > 0.95
    assert summary["neighbour_keeping"] > 0.5 and summary["frames"] == 1600
    assert summary["dead_units"] == []
    write_unlabelled_layer(tmp_path / "3", lmap, summary)
    back = read_layer_map(tmp_path / "3", 3, units=120)
    np.testing.assert_allclose(back.vertices, lmap.vertices, atol=1e-7)
    assert sorted(p.name for p in (tmp_path / "3").iterdir()) == ["indices", "summary.json",
                                                                 "vertices"]


def test_keeping_is_one_for_a_perfect_map():
    points = np.random.default_rng(3).uniform(-1, 1, (50, 2))
    d = np.linalg.norm(points[:, None] - points[None], axis=2)
    assert correlation_keeping(1 - d, points, 5) == pytest.approx(1.0)


def test_too_little_data_is_a_clean_error():
    stats = TimeCourseStats({1: 10})
    stats.add({1: np.ones((1, 10), np.float32)})
    with pytest.raises(DeepbrainError, match="too few to correlate"):
        stats.correlation(1)
    stats.add({1: np.random.default_rng(4).standard_normal((30, 10)).astype(np.float32)})
    with pytest.raises(DeepbrainError, match="too few for t-SNE"):
        unlabelled_layer_map(stats, 1)
