"""What each unit prefers: activity patterns, phoneme selectivity index, entropy, regions.

- Activity pattern: a unit's mean activation per phone, min-max scaled to [0, 1] over the
  phones that have frames (the seed's ``activities`` file is exactly this for its layer 1).
- PSI (Mesgarani et al. 2014, as in the paper): for phone p, the number of other phones q
  for which a one-sided Wilcoxon rank-sum test at level alpha says the unit responds more
  to p than to q, on the sampled frames of each phone. A unit's PSI is its PSI for its
  preferred phone (the argmax of its pattern); the unit is *selective* when that is > 0.
- Entropy of the pattern taken as a distribution over phones, in bits (log2 of the number
  of phones for a flat pattern, 0 for a unit that answers one phone only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ranksum import pairwise_greater
from .stats import CorpusStats


@dataclass(frozen=True, eq=False)
class Selectivity:
    preferred: np.ndarray  # units, class index
    psi: np.ndarray        # units x phones (-1 where a phone has too few frames)
    entropy: np.ndarray    # units, bits

    @property
    def unit_psi(self) -> np.ndarray:
        return self.psi[np.arange(self.psi.shape[0]), self.preferred]


def activity_patterns(means: np.ndarray) -> np.ndarray:
    """Min-max scale each row over its non-NaN columns; a constant row becomes 0."""
    lo = np.nanmin(means, axis=1, keepdims=True)
    hi = np.nanmax(means, axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (means - lo) / span


def pattern_entropy(patterns: np.ndarray) -> np.ndarray:
    p = np.nan_to_num(patterns, nan=0.0)
    total = p.sum(axis=1, keepdims=True)
    p = np.divide(p, total, out=np.zeros_like(p), where=total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.nansum(np.where(p > 0, p * np.log2(p), 0.0), axis=1)


def phoneme_selectivity(stats: CorpusStats, layer: int, alpha: float = 0.01,
                        min_frames: int = 5) -> np.ndarray:
    """Units x phones PSI; -1 for phones with fewer than ``min_frames`` sampled frames.

    The tests are ``scipy.stats.mannwhitneyu(x_p, x_q, alternative="greater")`` on the
    sampled frames of each pair of phones, all pairs and units at once (ranksum.py: the same
    p-values, one sort per unit); a NaN p-value counts as not significant.
    """
    psi = np.full((stats.units[layer], stats.num_phones), -1, np.int64)
    ok = [p for p in range(stats.num_phones) if stats.filled[p] >= min_frames]
    if len(ok) == 1:
        psi[:, ok] = 0
    elif ok:
        pv = pairwise_greater([stats.sample(layer, p) for p in ok])
        psi[:, ok] = (np.nan_to_num(pv, nan=1.0) < alpha).sum(axis=2)
    return psi


def selectivity(stats: CorpusStats, layer: int, patterns: np.ndarray,
                alpha: float = 0.01) -> Selectivity:
    preferred = np.argmax(np.nan_to_num(patterns, nan=-np.inf), axis=1)
    return Selectivity(preferred, phoneme_selectivity(stats, layer, alpha),
                       pattern_entropy(patterns))


def regions(preferred: np.ndarray, points: np.ndarray, names: tuple[str, ...]) -> dict:
    """Each phone's region: the units preferring it (1-based) and a label position at
    their centroid; phones no unit prefers get an empty region and no position."""
    out = {}
    for c, name in enumerate(names):
        units = np.flatnonzero(preferred == c)
        out[name] = {"units": (units + 1).tolist(),
                     "label": points[units].mean(axis=0).round(4).tolist() if units.size
                     else None}
    return out
