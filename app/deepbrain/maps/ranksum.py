"""One-sided Wilcoxon rank-sum tests of every group against every other, for many units at
once, with exactly the p-values of ``scipy.stats.mannwhitneyu(x, y, alternative="greater",
axis=0)`` (its defaults otherwise: ``use_continuity=True``, ``method="auto"``).

The phoneme selectivity index needs the test for each ordered pair of phones and each unit:
about P² calls of ``mannwhitneyu`` a layer, each ranking the pair's frames again. Here each
unit's pooled frames (all phones) are sorted once, and every pair's statistics follow from
the order of the phone labels in that sorted row:

- U[a, b] counts the pairs (x in a, y in b) with x > y, a tie counting one half. Counted by
  position in the sorted row (y before x), it is an "ordered label pairs" count: pairs in
  different chunks of 16 positions come from per-chunk label histograms (a matrix product),
  pairs within a chunk one by one (``_ordered_pairs``). Tie groups then move from counting
  by position to counting one half (``_ties``).
- the tie term ``sum (t³ - t)`` over the tie groups of a ∪ b, with a group's sizes ``s`` in a
  and ``r`` in b: ``(s + r)³ - (s + r) = (s³ - s) + (r³ - r) + 3 s² r + 3 s r²``, where
  ``sum s² r`` is the sum over a's tied frames of (its group's size in a) × (size in b).

All of these are exact integers. The p-value then follows scipy's arithmetic step by step, in
the dtype the installed scipy computes in (asked once: scipy 1.17 keeps float32 samples in
float32 for the U statistic, the tie term, the standard deviation, z and ``ndtr``; older
releases computed in float64), so the p-values are bit for bit scipy's, and a test at a
level alpha makes the same decisions. The method is chosen as
``method="auto"`` chooses it for each pair: the normal approximation with the tie correction
when both samples have more than 8 values, or when any value of the pair ties (in any unit:
scipy decides once per call over all columns); otherwise the exact null distribution of U.

Exactness bounds: the tie term is exact in float32 for pairs of up to 256 values together
(n³ - n < 2^24), and the exact distribution's counts are exact in float64 below 2^53 (the smaller
sample has at most 8 values, the larger a few hundred); the maps' reservoir of 100 frames a
phone is well inside both.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

EXACT_MAX = 8   # scipy: the exact distribution when a sample has at most 8 values, no ties
CHUNK = 16      # positions whose pairs are counted one by one (see _ordered_pairs)
BLOCK_BYTES = 2 << 20  # units are taken in blocks whose pair indices take about this much


def pairwise_greater(samples: Sequence[np.ndarray]) -> np.ndarray:
    """``p[u, a, b]``: the p-value of ``mannwhitneyu(samples[a][:, u], samples[b][:, u],
    alternative="greater")`` for every unit ``u`` and groups ``a != b``; NaN on the diagonal,
    and where a unit has a NaN value in either group (scipy's ``nan_policy="propagate"``).

    ``samples[a]`` is values x units (at least one value); every group has the same units.
    """
    sizes = np.array([s.shape[0] for s in samples], np.int64)
    if len(samples) < 2 or sizes.min() < 1:
        raise ValueError("pairwise_greater needs at least two groups, each with values")
    dtype = _scipy_dtype(np.result_type(*samples, np.float32))
    pooled = np.ascontiguousarray(np.concatenate(samples).astype(dtype, copy=False).T)
    units, total = pooled.shape
    groups = len(samples)
    twice_u = np.empty((units, groups, groups), np.int64)
    tie = np.zeros((units, groups, groups), np.int64)
    step = max(1, BLOCK_BYTES // (total * CHUNK * 4))
    for u0 in range(0, units, step):
        u1 = min(units, u0 + step)
        twice_u[u0:u1], tie[u0:u1] = _counts(pooled[u0:u1], sizes)
    nan = np.stack([np.isnan(s).any(axis=0) for s in samples], axis=1)  # units x groups
    return _pvalues(twice_u, tie, sizes, dtype, nan[:, :, None] | nan[:, None, :])


@lru_cache(maxsize=None)
def _scipy_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype ``mannwhitneyu`` computes in for floating samples of ``dtype``."""
    from scipy.stats import mannwhitneyu

    x = np.arange(12, dtype=dtype)
    return np.asarray(mannwhitneyu(x, x[::-1] + 0.5, alternative="greater").pvalue).dtype


def _counts(values: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2U and the tie term of every pair of groups, for a block of units (rows of
    ``values``: units x pooled values, the groups one after another)."""
    block, total = values.shape
    group_of = np.repeat(np.arange(sizes.size), sizes)
    order = np.argsort(values, axis=1)                          # the one sort per unit
    ranked = np.take_along_axis(values, order, axis=1)
    labels = group_of[order]
    new = np.ones((block, total), bool)
    new[:, 1:] = ranked[:, 1:] != ranked[:, :-1]                # a tie group starts here
    twice_u = 2 * _ordered_pairs(labels, sizes.size)
    if new.all():
        return twice_u, np.zeros_like(twice_u)
    pos = np.arange(total)
    first = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    last_flag = np.ones((block, total), bool)
    last_flag[:, :-1] = new[:, 1:]
    last = np.minimum.accumulate(np.where(last_flag, pos, total - 1)[:, ::-1], axis=1)[:, ::-1]
    tied = np.flatnonzero(last > first)                         # flat, sorted order
    correction, tie = _ties(labels.ravel()[tied], tied // total, (pos - first).ravel()[tied],
                            (last - first + 1).ravel()[tied], block, sizes.size)
    return twice_u + correction, tie


def _ordered_pairs(labels: np.ndarray, groups: int, chunk: int = CHUNK) -> np.ndarray:
    """``n[u, a, b]``: how many values of group b come before one of group a in row u of
    ``labels`` (the group of each value of a unit, in sorted order).

    Pairs in different chunks of ``chunk`` positions come from per-chunk histograms (a
    matrix product); pairs within a chunk are counted one by one: about
    ``total * (chunk / 2 + groups**2 / chunk)`` steps a unit instead of ``total * groups``.
    """
    block, total = labels.shape
    g = groups + 1                                             # + a filler group at the end
    chunks = -(-total // chunk)
    padded = np.full((block, chunks * chunk), groups, np.intp)
    padded[:, :total] = labels
    base = (np.arange(block) * g)[:, None, None]
    hist = np.bincount((base * chunks + np.arange(chunks)[None, :, None] * g +
                        padded.reshape(block, chunks, chunk)).ravel(),
                       minlength=block * chunks * g).reshape(block, chunks, g)
    before = np.cumsum(hist, axis=1) - hist                    # per group, in earlier chunks
    across = np.matmul(hist.transpose(0, 2, 1).astype(np.float64), before.astype(np.float64))
    later, earlier = np.triu_indices(chunk, 1)[::-1]            # positions k > j in a chunk
    grid = padded.reshape(block, chunks, chunk)
    within = np.bincount(((base + grid[:, :, later]) * g + grid[:, :, earlier]).ravel(),
                         minlength=block * g * g).reshape(block, g, g)
    return (np.rint(across).astype(np.int64) + within)[:, :groups, :groups]


def _ties(labels: np.ndarray, unit: np.ndarray, offset: np.ndarray, size: np.ndarray,
          block: int, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """For the values that tie with another (flat, in sorted order, so each tie group is
    contiguous; ``offset`` is a value's place in its tie group, ``size`` the group's size):

    - the correction of 2U from counting by position to counting a tie as one half: for a
      value of group a, ``(# of b at or after it in its tie group) - (# of b before it)``;
    - the tie term ``sum (t³ - t)`` of each pair's pooled values (see the module docstring).
    """
    n = labels.size
    onehot = np.zeros((n + 1, groups), np.int64)
    onehot[np.arange(n) + 1, labels] = 1
    cum = np.cumsum(onehot, axis=0)                            # cum[i]: before tied value i
    i = np.arange(n)
    start = i - offset
    ahead, behind = cum[start + size] - cum[i], cum[i] - cum[start]
    equal = ahead + behind                                     # the group's size per group
    own = equal[i, labels]
    row = unit * groups + labels                               # (unit, group) of each value
    correction = _sum_rows(row, ahead - behind, block * groups)
    cross = _sum_rows(row, equal * own[:, None], block * groups)  # sum s² r (s: own, r: other)
    alone = np.bincount(row, own * own - 1, block * groups)   # sum s³ - s within a group
    correction, cross = (a.reshape(block, groups, groups) for a in (correction, cross))
    alone = np.rint(alone).astype(np.int64).reshape(block, groups)
    tie = alone[:, :, None] + alone[:, None, :] + 3 * (cross + cross.transpose(0, 2, 1))
    return correction, tie


def _sum_rows(row: np.ndarray, values: np.ndarray, rows: int) -> np.ndarray:
    """``out[r] = sum of values[i] where row[i] == r`` (int64; rows x columns)."""
    cols = values.shape[1]
    index = (row[:, None] * cols + np.arange(cols)).ravel()
    return np.rint(np.bincount(index, values.ravel(), rows * cols)).astype(np.int64)


def _pvalues(twice_u: np.ndarray, tie: np.ndarray, sizes: np.ndarray, dtype,
             nan: np.ndarray) -> np.ndarray:
    """scipy's p-value from U and the tie term, operation by operation in ``dtype``; the
    units with a NaN (``nan``: units x groups x groups) are left out of the choice of method,
    as scipy leaves them out of the test, and get NaN."""
    from scipy import special

    n1 = sizes[:, None].astype(np.float64)
    n2 = sizes[None, :].astype(np.float64)
    n = n1 + n2
    f = np.dtype(dtype).type
    u = (twice_u / 2).astype(dtype)                           # half-integers: exact
    sd = np.sqrt((n1 * n2 / 12).astype(dtype) *
                 ((n + 1).astype(dtype) - tie.astype(dtype) / (n * (n - 1)).astype(dtype)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (u - (n1 * n2 / 2).astype(dtype) - f(0.5)) / sd
    p = special.ndtr(-z)
    small = np.minimum(n1, n2) <= EXACT_MAX
    exact = small & ~((tie > 0) & ~nan).any(axis=0)
    for a, b in zip(*np.nonzero(exact)):
        if a != b:
            p[:, a, b] = _exact_sf(u[:, a, b].astype(np.int64), int(sizes[a]), int(sizes[b]))
    p = np.clip(p, 0.0, 1.0)
    p[nan] = np.nan
    idx = np.arange(sizes.size)
    p[:, idx, idx] = np.nan
    return p


def _exact_sf(u: np.ndarray, n1: int, n2: int) -> np.ndarray:
    """P(U >= u) under the null hypothesis, computed as scipy's ``_MWU.sf`` computes it (the
    same counts and the same float64 steps: pmf = count / binom, a cumulative sum from the
    nearer tail, ``1 - cdf + pmf`` in the upper half)."""
    from scipy import special

    m, n = min(n1, n2), max(n1, n2)
    pmf = _u_counts(m, n) / special.binom(m + n, m)
    kc = m * n - u
    lower = u < kc
    k = np.where(lower, u, kc)
    cdf = np.cumsum(pmf[:k.max() + 1])[k]
    return np.where(lower, 1.0 - cdf + pmf[k], cdf)


@lru_cache(maxsize=64)
def _u_counts(m: int, n: int) -> np.ndarray:
    """How many of the binom(m+n, m) rankings give U = 0 .. m*n (float64 of exact integers):
    the coefficients of the Gaussian binomial prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i)."""
    poly = [1]
    for i in range(1, m + 1):
        grown = poly + [0] * (n + i)
        for k in range(len(grown) - 1, n + i - 1, -1):          # times (1 - q^(n+i))
            grown[k] -= grown[k - n - i]
        for k in range(i, len(grown)):                          # divided by (1 - q^i)
            grown[k] += grown[k - i]
        poly = grown[:i * n + 1]
    return np.array(poly, dtype=np.float64)
