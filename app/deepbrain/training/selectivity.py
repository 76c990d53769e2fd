"""How phone-selective the hidden units are: a Kruskal-Wallis test per unit.

For each hidden unit, its activations on a sample of frames are grouped by the frames'
phone labels, and the Kruskal-Wallis H test (``scipy.stats.kruskal``, ties corrected) asks
whether the groups' distributions differ (H0: the unit's activation does not depend on the
phone). A unit counts as phone-selective when p < ``alpha``. The effect size is
epsilon^2 = H / (n - 1), the share of the rank variance the phones explain (0..1).

Frames are sampled per phone (up to ``per_phone`` each, seeded) so that frequent phones
(silence is a quarter of all frames) do not swamp the test and n stays in the thousands:
with a few hundred thousand frames any difference would be "significant". Neighbouring
frames are not independent, so p-values are optimistic; the effect sizes say how strong,
and a unit counts as strongly selective when epsilon^2 >= 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy.stats import kruskal

STRONG_EFFECT = 0.5  # the phone explains at least half of the unit's rank variance


@dataclass(frozen=True)
class LayerSelectivity:
    """One hidden layer's figures: ``selective`` of ``units`` have p < alpha."""

    layer: int
    units: int
    selective: int
    frames: int
    phones: int
    alpha: float
    median_effect: float  # median over units of epsilon^2
    strong: int = 0       # units with epsilon^2 >= STRONG_EFFECT

    @property
    def share(self) -> float:
        return self.selective / self.units

    @property
    def strong_share(self) -> float:
        return self.strong / self.units


def sample_frames(labels: np.ndarray, per_phone: int, seed: int) -> np.ndarray:
    """Sorted indices of up to ``per_phone`` random frames of each phone present."""
    rng = np.random.default_rng(seed)
    chosen = []
    for phone in np.unique(labels):
        where = np.flatnonzero(labels == phone)
        take = min(per_phone, where.size)
        chosen.append(rng.choice(where, size=take, replace=False))
    return np.sort(np.concatenate(chosen))


def unit_tests(activations: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per unit (column): the Kruskal-Wallis p-value and epsilon^2 over phone groups."""
    groups = [activations[labels == p].astype(np.float64) for p in np.unique(labels)]
    groups = [g for g in groups if g.shape[0] > 0]
    if len(groups) < 2:
        raise ValueError("the Kruskal-Wallis test needs frames of at least two phones")
    with np.errstate(invalid="ignore", divide="ignore"):
        h, p = kruskal(*groups, axis=0)
    n = activations.shape[0]
    constant = np.ptp(activations, axis=0) == 0  # a unit that never changes: not selective
    h = np.where(constant, 0.0, h)
    p = np.where(constant, 1.0, p)
    return p, h / (n - 1)


def phone_selectivity(layers: Mapping[int, np.ndarray], labels: np.ndarray,
                      alpha: float = 0.01) -> tuple[LayerSelectivity, ...]:
    """:class:`LayerSelectivity` per layer of ``layers`` (frames x units, rows = ``labels``)."""
    out = []
    for k, acts in sorted(layers.items()):
        p, effect = unit_tests(acts, labels)
        out.append(LayerSelectivity(k, acts.shape[1], int((p < alpha).sum()), acts.shape[0],
                                    int(np.unique(labels).size), alpha,
                                    float(np.median(effect)),
                                    int((effect >= STRONG_EFFECT).sum())))
    return tuple(out)
