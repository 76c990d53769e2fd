"""Phone regions on a map (outlines, labels) and the region score, without Qt."""

import subprocess
import sys

import numpy as np
import pytest

from deepbrain.errors import DeepbrainError
from deepbrain.maps.units import UnitTable
from deepbrain.regions import (mosaic_outline, region_labels, region_outline, region_score,
                               region_scores, smooth_labels)
from deepbrain.segments import PhoneSegment


def grid(n=5):
    """An n x n grid of units on [0, 1]^2 and two triangles per square."""
    xs, ys = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    v = np.column_stack([xs.ravel(), ys.ravel()])
    tris = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            tris += [(a, b, e), (a, e, d)]
    return v, np.array(tris)


def table(preferred, phones=("aa", "iy", "s")):
    p = np.asarray(preferred)
    return UnitTable(1, tuple(phones), p, np.zeros(p.size, int), np.ones(p.size), None, None)


def test_outline_of_a_half_runs_between_the_halves_and_along_the_rim():
    v, t = grid(5)
    inside = v[:, 0] < 0.4                      # columns x = 0 and 0.25
    seg = region_outline(v, t, inside)
    # every segment stays within the region's side of the cut (x <= 0.375)
    assert seg[:, :, 0].max() <= 0.375 + 1e-9
    # the cut spans the map from bottom to top through edge midpoints
    cut = seg[np.isclose(seg[:, :, 0], 0.375).all(axis=1)]
    assert np.isclose(cut[:, :, 1].min(), 0) and np.isclose(cut[:, :, 1].max(), 1)
    # the rim: the left side fully, the top and bottom up to the midpoint
    rim = seg[~np.isclose(seg[:, :, 0], 0.375).all(axis=1)]
    length = np.linalg.norm(rim[:, 0] - rim[:, 1], axis=1).sum()
    assert np.isclose(length, 1 + 2 * 0.375)
    assert region_outline(v, t, np.zeros(len(v), bool)).shape == (0, 2, 2)


def test_a_lone_unit_gets_an_island_and_the_mosaic_cuts_mixed_triangles():
    v, t = grid(5)
    inside = np.zeros(len(v), bool)
    inside[12] = True                            # the centre unit
    seg = region_outline(v, t, inside)
    assert len(seg) == 6                         # one segment per triangle around it
    mid = seg.reshape(-1, 2)
    assert np.all(np.linalg.norm(mid - v[12], axis=1) <= 0.25 / np.sqrt(2) + 1e-9)
    v3 = np.array([[0, 0], [1, 0], [0, 1.0]])
    spokes = mosaic_outline(v3, np.array([[0, 1, 2]]), np.array([0, 1, 2]))
    assert spokes.shape == (3, 2, 2) and np.allclose(spokes[:, 1], [1 / 3, 1 / 3])
    assert mosaic_outline(v3, np.array([[0, 1, 2]]), np.array([4, 4, 4])).shape == (0, 2, 2)


def test_smoothing_absorbs_lone_units_and_keeps_regions():
    v, t = grid(7)
    labels = (v[:, 0] > 0.5).astype(int)
    labels[3 * 7 + 1] = 2                        # a lone unit inside region 0
    smooth = smooth_labels(t, labels)
    assert smooth[3 * 7 + 1] == 0
    assert np.array_equal(smooth[labels != 2], labels[labels != 2])


def test_labels_sit_on_the_largest_piece():
    v, t = grid(7)
    labels = np.zeros(len(v), int)
    labels[v[:, 0] > 0.6] = 1                    # a block of phone 1 on the right ...
    labels[0] = 1                                # ... and a lone unit far from it
    got = {lab.phone: lab for lab in region_labels(v, t, labels, ("aa", "iy"))}
    assert got["iy"].units == int((v[:, 0] > 0.6).sum())
    assert got["iy"].position[0] > 0.6 and tuple(got["iy"].position) in map(tuple, v)
    few = np.zeros(len(v), int)
    few[:2] = 1
    assert [lab.phone for lab in region_labels(v, t, few, ("aa", "iy"))] == ["aa"]


def test_region_score_is_the_region_over_the_layer():
    acts = np.full((6, 4), 0.1, np.float32)
    acts[:3, :2] = 0.9                            # units 0, 1 (phone aa) fire in frames 0..2
    segs = [PhoneSegment("aa", 0, 3), PhoneSegment("sil", 3, 4), PhoneSegment("s", 4, 9)]
    s = region_score(acts, table([0, 0, 2, 1]), segs)
    assert np.allclose(s.per_frame[:3], 0.9 / 0.5)
    assert np.isnan(s.per_frame[3])              # silence: no unit prefers it
    assert np.allclose(s.per_frame[4:], 1.0)     # unit 2 (s) is as active as the layer
    assert np.isclose(s.mean, (3 * 1.8 + 2 * 1.0) / 5)
    tanh = region_score(acts * 2 - 1, table([0, 0, 2, 1]), segs, floor=-1.0)
    assert np.allclose(tanh.per_frame[:3], 1.8)  # measured above tanh's floor: the same
    none = region_score(acts, table([1, 1, 1, 1]), segs[:2])
    assert np.isnan(none.per_frame).all() and np.isnan(none.mean)
    silent = region_score(np.zeros((6, 4)), table([0, 0, 2, 1]), segs)
    assert np.isnan(silent.mean)
    with pytest.raises(DeepbrainError, match="activations of shape"):
        region_score(acts[:, :3], table([0, 0, 2, 1]), segs)


def test_region_scores_of_every_layer_with_a_table():
    acts = {1: np.random.default_rng(0).random((5, 4)), 2: np.ones((5, 3))}
    got = region_scores(acts, {1: table([0, 1, 2, 0])}, [PhoneSegment("aa", 0, 5)])
    assert list(got) == [1] and got[1].per_frame.shape == (5,)


def test_the_core_imports_no_qt():
    code = ("import sys; sys.modules['PyQt5'] = None; sys.modules['pyqtgraph'] = None\n"
            "import deepbrain.regions, deepbrain.phonelanes, deepbrain.savedacts, "
            "deepbrain.video, deepbrain.export, deepbrain.maps.units, deepbrain.phoneclasses")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
