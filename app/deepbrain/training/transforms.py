"""The two front-end transforms estimated on the training data, as Kaldi estimates them.

* ``final.mat``: an LDA (acc-lda + est-lda, ``transform/lda-estimate.cc``). The total and
  between-class covariances come from class counts, sums and the total scatter; with
  W = T - B = L L^T (Cholesky), the eigenvectors U of L^-1 B L^-T give the rows of
  U^T L^-1, sorted by eigenvalue, so the within-class covariance of the output is the unit
  matrix and the output dimensions are ordered by between-class variance.
* ``final.feature_transform``: Splice, then AddShift (-mean) and Rescale (1/std) from the
  global statistics of the spliced features (what ``cmvn-to-nnet`` makes of
  ``compute-cmvn-stats`` output).

The LDA classes are sub-phone states: each phone segment is cut into three equal parts
(beginning, middle, end), as a 3-state monophone HMM's pdfs would. Kaldi's nnet recipes
estimate the LDA on pdfs; with the 39 phones alone the between-class covariance has rank 38,
less than the 40 output dimensions (est-lda refuses that without --allow-large-dim).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..features import compute_cmvn_stats
from ..nnet1 import AddShift, Nnet, Rescale, Splice, splice_frames
from .errors import TrainingError
from .frames import FrameSet

F32 = np.float32
STATES = 3


@dataclass(frozen=True, eq=False)
class LdaStats:
    """acc-lda's accumulators (double): frames per class, per-class sums, total scatter."""

    counts: np.ndarray   # classes
    sums: np.ndarray     # classes x dim
    scatter: np.ndarray  # dim x dim: sum over frames of x x^T

    def __add__(self, other: "LdaStats") -> "LdaStats":
        return LdaStats(self.counts + other.counts, self.sums + other.sums,
                        self.scatter + other.scatter)


@dataclass(frozen=True, eq=False)
class Lda:
    """est-lda's result: the ``dim x input_dim`` matrix and all eigenvalues, largest first."""

    matrix: np.ndarray
    eigenvalues: np.ndarray

    @property
    def kept_share(self) -> float:
        """Share of the between-class variance (sum of eigenvalues) the kept rows hold."""
        return float(self.eigenvalues[:self.matrix.shape[0]].sum() / self.eigenvalues.sum())


def state_classes(labels: np.ndarray, num_phones: int, states: int = STATES) -> np.ndarray:
    """Class ``phone * states + part`` per frame: each run of one label cut in ``states``
    equal parts by position (a 1-frame run is part 0)."""
    y = np.asarray(labels, dtype=np.int64)
    if y.size == 0:
        return y
    change = np.flatnonzero(np.diff(y)) + 1
    run_start = np.concatenate([[0], change])
    run_len = np.diff(np.concatenate([run_start, [y.size]]))
    start = np.repeat(run_start, run_len)
    length = np.repeat(run_len, run_len)
    part = (np.arange(y.size) - start) * states // length
    if y.min() < 0 or y.max() >= num_phones:
        raise TrainingError(f"phone labels outside 0..{num_phones - 1}")
    return y * states + part


def frame_classes(frames: FrameSet, num_phones: int, states: int = STATES) -> np.ndarray:
    """:func:`state_classes` of every utterance (runs never cross an utterance boundary)."""
    return np.concatenate([state_classes(frames.labels[frames.rows(i)], num_phones, states)
                           for i in range(len(frames.utt_ids))])


def acc_lda(feats: np.ndarray, classes: np.ndarray, num_classes: int) -> LdaStats:
    """Accumulate LDA statistics of frames with hard class labels."""
    x = np.asarray(feats, dtype=np.float64)
    c = np.asarray(classes, dtype=np.int64)
    if c.shape != (x.shape[0],):
        raise TrainingError(f"{c.size} class labels for {x.shape[0]} frames")
    sums = np.zeros((num_classes, x.shape[1]))
    np.add.at(sums, c, x)
    return LdaStats(np.bincount(c, minlength=num_classes).astype(np.float64), sums, x.T @ x)


def est_lda(stats: LdaStats, dim: int) -> Lda:
    """Kaldi's ``LdaEstimate::Estimate`` (within-class factor 1, no offset column).

    Each row's sign is fixed so that its largest-magnitude entry is positive (an
    eigenvector's sign is arbitrary; this makes the matrix the same on every run).
    """
    used = stats.counts > 0
    if dim > stats.scatter.shape[0] or dim >= int(used.sum()):
        raise TrainingError(f"an LDA to {dim} dims needs at least {dim} input dims and more "
                            f"than {dim} classes with frames; found {stats.scatter.shape[0]} "
                            f"dims and {int(used.sum())} classes (use more data or fewer dims)")
    count = stats.counts.sum()
    mean = stats.sums.sum(axis=0) / count
    total = stats.scatter / count - np.outer(mean, mean)
    class_means = stats.sums[used] / stats.counts[used, None]
    between = (class_means.T * (stats.counts[used] / count)) @ class_means - np.outer(mean, mean)
    within = total - between
    try:
        chol = np.linalg.cholesky(within)
    except np.linalg.LinAlgError:  # as Kaldi: smooth the diagonal and try again
        within = within + np.eye(len(within)) * 1.0e-3 * np.trace(within) / len(within)
        chol = np.linalg.cholesky(within)
    inv_chol = np.linalg.inv(chol)
    m = inv_chol @ between @ inv_chol.T
    eigenvalues, vectors = np.linalg.eigh((m + m.T) / 2)
    order = np.argsort(eigenvalues)[::-1]
    lda = vectors[:, order].T @ inv_chol
    signs = np.sign(lda[np.arange(len(lda)), np.abs(lda).argmax(axis=1)])
    lda *= signs[:, None]
    return Lda(lda[:dim].astype(F32), eigenvalues[order])


def cmvn_to_nnet(stats: np.ndarray, var_floor: float = 1.0e-10) -> tuple[AddShift, Rescale]:
    """AddShift (-mean) and Rescale (1/std) from 2 x (dim+1) CMVN statistics, as
    cmvn-to-nnet (learn-rate coefficient 0: the network's training leaves them alone)."""
    dim = stats.shape[1] - 1
    count = stats[0, dim]
    mean = stats[0, :dim] / count
    var = np.maximum(stats[1, :dim] / count - mean * mean, var_floor)
    return (AddShift(dim, dim, shift=(-mean).astype(F32)),
            Rescale(dim, dim, scale=(1.0 / np.sqrt(var)).astype(F32)))


def make_feature_transform(frames: FrameSet, context: int) -> Nnet:
    """Splice -context..context, then global mean/variance normalisation of the spliced
    features of every frame in ``frames``."""
    offsets = np.arange(-context, context + 1)
    dim = frames.feats.shape[1]
    stats = sum(compute_cmvn_stats(splice_frames(u, offsets)) for u in frames.utterances())
    shift, scale = cmvn_to_nnet(stats)
    return Nnet((Splice(dim, dim * len(offsets), offsets=offsets), shift, scale))
