"""LDA (est-lda's maths), the sub-phone classes, and the feature transform (cmvn-to-nnet)."""

import numpy as np
import pytest
from scipy.linalg import eigh, subspace_angles

from deepbrain.kaldi_formats import read_matrix_file
from deepbrain.training.errors import TrainingError
from deepbrain.training.frames import FrameSet
from deepbrain.training.modeldir import matrix_bytes
from deepbrain.training.transforms import (LdaStats, acc_lda, cmvn_to_nnet, est_lda,
                                           frame_classes, make_feature_transform,
                                           state_classes)


def gaussian_classes(seed=0, dim=8, classes=6, per_class=4000, informative=2):
    """Classes whose means differ only in ``informative`` directions (columns of A), with
    one shared, strongly correlated within-class covariance S. The discriminative
    directions (Fisher's) are then span(S^-1 A)."""
    rng = np.random.default_rng(seed)
    a = np.linalg.qr(rng.standard_normal((dim, informative)))[0]
    root = rng.standard_normal((dim, dim)) + 2 * np.eye(dim)
    cov = root @ root.T
    means = (rng.standard_normal((classes, informative)) * 6) @ a.T
    x = np.concatenate([m + rng.multivariate_normal(np.zeros(dim), cov, per_class)
                        for m in means])
    y = np.repeat(np.arange(classes), per_class)
    return x, y, a, cov


def test_lda_recovers_the_discriminative_directions():
    x, y, a, cov = gaussian_classes()
    lda = est_lda(acc_lda(x, y, 6), 2)
    fisher = np.linalg.solve(cov, a)
    angles = subspace_angles(lda.matrix.T.astype(np.float64), fisher)
    assert np.degrees(angles).max() < 2.0
    assert lda.eigenvalues[:2].min() > 10 * lda.eigenvalues[2:].max()
    assert lda.kept_share > 0.99


def test_lda_is_the_generalised_eigenproblem_with_unit_within_class_variance():
    x, y, _, _ = gaussian_classes(seed=1, dim=6, classes=5, informative=4)
    stats = acc_lda(x, y, 5)
    lda = est_lda(stats, 4)
    t = lda.matrix.astype(np.float64)
    z = x @ t.T
    within = sum(np.cov(z[y == c].T, bias=True) * (y == c).sum() for c in range(5)) / len(y)
    assert np.abs(within - np.eye(4)).max() < 1e-4  # Kaldi scales to unit within-class covariance
    # Independent reference: scipy's generalised symmetric eigenproblem B v = l W v.
    count = stats.counts.sum()
    mean = stats.sums.sum(0) / count
    total = stats.scatter / count - np.outer(mean, mean)
    cm = stats.sums / stats.counts[:, None]
    between = (cm - mean).T @ ((cm - mean) * (stats.counts[:, None] / count))
    vals, vecs = eigh(between, total - between)  # v^T W v = 1
    vals, vecs = vals[::-1], vecs[:, ::-1]
    assert np.allclose(lda.eigenvalues[:4], vals[:4], rtol=1e-6)
    for row, v in zip(t, vecs.T[:4]):
        assert min(np.abs(row - v).max(), np.abs(row + v).max()) < 1e-5 * np.abs(v).max()
    # between-class covariance of the output: diagonal, eigenvalues in decreasing order
    zb = t @ between @ t.T
    assert np.allclose(zb, np.diag(vals[:4]), atol=1e-5 * vals[0])


def test_lda_refuses_more_dims_than_classes_allow():
    x, y, _, _ = gaussian_classes(classes=3)
    with pytest.raises(TrainingError, match="more than 3 classes"):
        est_lda(acc_lda(x, y, 3), 3)


def test_lda_statistics_add_up_and_the_matrix_is_deterministic():
    x, y, _, _ = gaussian_classes(seed=2)
    whole = acc_lda(x, y, 6)
    halves = acc_lda(x[::2], y[::2], 6) + acc_lda(x[1::2], y[1::2], 6)
    assert isinstance(halves, LdaStats)
    assert np.allclose(halves.scatter, whole.scatter) and np.array_equal(halves.counts,
                                                                           whole.counts)
    m1, m2 = est_lda(whole, 3).matrix, est_lda(whole, 3).matrix
    assert m1.dtype == np.float32 and np.array_equal(m1, m2)
    assert np.all(m1[np.arange(3), np.abs(m1).argmax(axis=1)] > 0)  # sign convention


def test_lda_matrix_is_written_as_a_binary_kaldi_matrix(tmp_path):
    m = np.random.default_rng(0).standard_normal((40, 91)).astype(np.float32)
    data = matrix_bytes(m)
    assert data.startswith(b"\0BFM \x04\x28\0\0\0\x04\x5b\0\0\0")
    (tmp_path / "final.mat").write_bytes(data)
    assert np.array_equal(read_matrix_file(tmp_path / "final.mat", "LDA"), m)


def test_state_classes_cut_each_phone_run_in_three():
    y = np.array([0, 0, 0, 0, 0, 0, 5, 5, 7, 0])
    assert state_classes(y, 8).tolist() == [0, 0, 1, 1, 2, 2, 15, 16, 21, 0]
    with pytest.raises(TrainingError, match="outside 0..7"):
        state_classes(np.array([8]), 8)


def test_frame_classes_do_not_run_across_utterances():
    frames = FrameSet(("a", "b"), ("s", "s"), np.array([0, 3, 6]), np.zeros((6, 2), np.float32),
                      np.zeros(6, np.int32))
    assert frame_classes(frames, 1).tolist() == [0, 1, 2, 0, 1, 2]


def test_cmvn_to_nnet_normalises_to_zero_mean_unit_variance():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5000, 4)) * [1, 2, 3, 0.1] + [5, -1, 0, 2]).astype(np.float32)
    stats = np.zeros((2, 5))
    stats[0, :4], stats[1, :4], stats[0, 4] = x.sum(0), (x.astype(np.float64) ** 2).sum(0), 5000
    shift, scale = cmvn_to_nnet(stats)
    assert shift.learn_rate_coef == 0 and scale.learn_rate_coef == 0
    z = scale.propagate(shift.propagate(x))
    assert np.abs(z.mean(0)).max() < 1e-4 and np.abs(z.std(0) - 1).max() < 1e-4


def test_feature_transform_splices_within_utterances_and_normalises():
    rng = np.random.default_rng(4)
    feats = (rng.standard_normal((300, 3)) * [1, 5, 0.5] + [2, 0, -3]).astype(np.float32)
    frames = FrameSet(("a", "b"), ("s", "t"), np.array([0, 100, 300]), feats,
                      np.zeros(300, np.int32))
    ft = make_feature_transform(frames, 2)
    assert [c.marker for c in ft.components] == ["<Splice>", "<AddShift>", "<Rescale>"]
    assert ft.input_dim == 3 and ft.output_dim == 15
    out = np.concatenate([ft.propagate(u) for u in frames.utterances()])
    assert np.abs(out.mean(0)).max() < 1e-4 and np.abs(out.std(0) - 1).max() < 1e-3
