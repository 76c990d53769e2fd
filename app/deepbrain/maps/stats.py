"""Per-unit, per-phone statistics of hidden activations over a corpus, never all frames.

For each layer: the sum of each unit's activation per phone and the frame count per phone
(their ratio is the *activity pattern*), plus a uniform random sample of at most
``reservoir`` frames per phone (the same frames for every layer), which the rank tests of
the phoneme selectivity index need. Accumulators of separate jobs merge exactly: sums and
counts add, and two reservoirs merge into a uniform sample of their union.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np


@dataclass(eq=False)
class CorpusStats:
    """Accumulates ``add(layers, labels)`` per utterance; ``merge`` another job's."""

    num_phones: int
    units: Mapping[int, int]              # layer -> number of units
    reservoir: int = 100
    seed: int = 0
    sums: dict = field(init=False)        # layer -> units x phones, float64
    counts: np.ndarray = field(init=False)  # phones, int64 (frames seen per phone)
    samples: dict = field(init=False)     # layer -> phones x reservoir x units, float32
    filled: np.ndarray = field(init=False)  # phones, int64 (reservoir slots in use)

    def __post_init__(self):
        self.sums = {k: np.zeros((u, self.num_phones)) for k, u in self.units.items()}
        self.counts = np.zeros(self.num_phones, np.int64)
        self.samples = {k: np.zeros((self.num_phones, self.reservoir, u), np.float32)
                        for k, u in self.units.items()}
        self.filled = np.zeros(self.num_phones, np.int64)
        self._rng = np.random.default_rng(self.seed)

    def add(self, layers: Mapping[int, np.ndarray], labels: np.ndarray) -> None:
        """One utterance: ``layers[k]`` is frames x units, ``labels`` a class per frame
        (-1 for frames to leave out, e.g. silence)."""
        keep = labels >= 0
        labels = labels[keep]
        frames = np.flatnonzero(keep)
        # per-phone sums: the frames in phone order, each phone's run summed in float64
        # (one pass over the frames, not a one-hot product 38 times the work)
        by_phone = np.argsort(labels, kind="stable")
        order = frames[by_phone]
        present, starts = np.unique(labels[by_phone], return_index=True)
        for k, acts in layers.items():
            if order.size:
                self.sums[k][:, present] += np.add.reduceat(acts[order], starts, axis=0,
                                                            dtype=np.float64).T
        # each phone's frames in time order (the sort is stable), for the reservoirs
        for p, rows in zip(present, np.split(order, starts[1:])):
            slots, take = self._slots(int(p), rows.size)
            for k, acts in layers.items():
                self.samples[k][p, slots] = acts[rows[take]]
        self.counts += np.bincount(labels, minlength=self.num_phones)

    def _slots(self, p: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Algorithm R for ``m`` new frames of phone ``p``: the reservoir slot each kept
        frame goes to (later frames overwrite earlier ones in a slot) and which frames."""
        seen = self.counts[p] + np.arange(m)
        slot = np.where(seen < self.reservoir, seen,
                        self._rng.integers(0, seen + 1))
        kept = np.flatnonzero(slot < self.reservoir)
        # keep only the last frame written to each slot, as sequential writes would
        last = {int(slot[i]): i for i in kept}
        take = np.array(sorted(last.values()), dtype=np.int64)
        self.filled[p] = min(self.reservoir, self.counts[p] + m)
        return slot[take], take

    def merge(self, other: "CorpusStats") -> None:
        """Add another job's statistics (same layers, phones and reservoir size)."""
        if other.units != self.units or other.num_phones != self.num_phones or \
                other.reservoir != self.reservoir:
            raise ValueError("merging statistics of different shapes")
        for k in self.sums:
            self.sums[k] += other.sums[k]
        for p in range(self.num_phones):
            a, b = int(self.filled[p]), int(other.filled[p])
            if b == 0:
                continue
            total = self.counts[p] + other.counts[p]
            n = min(self.reservoir, total)
            # how many of the merged sample come from each side: hypergeometric draw over the
            # frames each side stands for, then uniform picks within each reservoir
            from_a = self._rng.hypergeometric(self.counts[p], other.counts[p], n) if a else 0
            from_a = min(from_a, a)
            from_b = min(n - from_a, b)
            pick_a = self._rng.choice(a, from_a, replace=False) if from_a else np.zeros(0, int)
            pick_b = self._rng.choice(b, from_b, replace=False) if from_b else np.zeros(0, int)
            for k in self.samples:
                merged = np.concatenate([self.samples[k][p, pick_a],
                                         other.samples[k][p, pick_b]])
                self.samples[k][p, :merged.shape[0]] = merged
            self.filled[p] = from_a + from_b
        self.counts += other.counts

    def means(self, layer: int) -> np.ndarray:
        """Units x phones mean activation; NaN in the columns of phones with no frames."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums[layer] / np.where(self.counts > 0, self.counts, np.nan)

    def sample(self, layer: int, phone: int) -> np.ndarray:
        """The sampled frames of ``phone`` (n x units)."""
        return self.samples[layer][phone, :self.filled[phone]]
