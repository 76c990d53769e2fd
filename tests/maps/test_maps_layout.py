"""t-SNE + Delaunay maps: the seed's form, every unit in a triangle, repeatable."""

import numpy as np
import pytest

from deepbrain.errors import DeepbrainError
from deepbrain.maps.layout import delaunay, neighbour_keeping, scale_axes, tsne_points
from deepbrain.maps.selectivity import activity_patterns, pattern_entropy


def clustered_patterns(n=150, phones=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.random((5, phones))
    x = centres[rng.integers(0, 5, n)] + 0.05 * rng.standard_normal((n, phones))
    return activity_patterns(x)


def test_same_seed_same_map_and_axes_scaled():
    p = clustered_patterns()
    a, b = tsne_points(p, seed=3, perplexity=20), tsne_points(p, seed=3, perplexity=20)
    assert np.array_equal(a, b)
    assert np.allclose(a.min(axis=0), -0.9) and np.allclose(a.max(axis=0), 0.9)
    assert not np.array_equal(a, tsne_points(p, seed=4, perplexity=20))


def test_triangles_cover_every_unit_and_none_is_degenerate():
    pts = scale_axes(np.random.default_rng(0).random((300, 2)))
    pts[10] = pts[11]            # two units on one spot
    pts[20:25] = [[0.1 * i, 0.1 * i] for i in range(5)]  # and a collinear run
    tri = delaunay(pts)
    assert set(np.unique(tri)) == set(range(300))
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    area = 0.5 * np.abs((b - a)[:, 0] * (c - a)[:, 1] - (c - a)[:, 0] * (b - a)[:, 1])
    assert area.min() > 1e-12


def test_too_few_units_for_the_perplexity():
    with pytest.raises(DeepbrainError, match="40 units are too few for t-SNE with perplexity "
                                             "30 .* pass --perplexity 13"):
        tsne_points(clustered_patterns(n=40), seed=0)


def test_neighbour_keeping():
    p = clustered_patterns()
    assert neighbour_keeping(p, p[:, :2] * 0 + np.random.default_rng(1).random((150, 2))) < 0.3
    two_d = np.random.default_rng(2).random((100, 2))
    assert neighbour_keeping(two_d, two_d) == 1.0


def test_nan_columns_are_ignored():
    p = clustered_patterns()
    q = np.column_stack([p, np.full(p.shape[0], np.nan)])
    assert np.array_equal(tsne_points(p, 1, 20), tsne_points(q, 1, 20))


def test_entropy_and_min_max_patterns():
    m = np.array([[0.2, 0.2, 0.2, 0.2], [0.0, 1.0, 0.0, 0.0], [1, 2, np.nan, 3.0]])
    p = activity_patterns(m)
    assert p[0].tolist() == [0, 0, 0, 0] and np.isnan(p[2, 2]) and p[2, 3] == 1
    h = pattern_entropy(activity_patterns(np.array([[1, 1, 1, 1.5], [0, 1, 0, 0.0]])))
    assert h[1] == 0 and h[0] == 0  # after min-max both answer one phone only
    flat = pattern_entropy(np.array([[1.0, 1.0, 1.0, 1.0]]))
    assert flat[0] == pytest.approx(2.0)
