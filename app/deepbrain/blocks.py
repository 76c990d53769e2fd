"""Frames of an utterance, a block at a time, exactly as if the whole utterance were there.

Kaldi's frame stages (splice-feats, add-deltas, nnet1's Splice) look at neighbouring frames and
repeat the first or last frame of the *utterance* where a neighbour is missing. A
:class:`Block` is rows ``start .. start + n`` of a stage's input for an utterance of ``total``
frames; :func:`gather` gives the rows a stage can compute exactly from it: all of them where
the block touches an utterance edge (which is then repeated, as Kaldi does), and rows whose
neighbours are inside the block elsewhere (the block's own edges are context, not the
utterance's). Chained stages shrink a block by each one's context, so a chunk of frames
``a .. b`` is computed exactly from input frames ``a - L .. b + R`` (clipped to the
utterance), L and R the chain's total context: streaming, the window's frames on demand and
whole utterances are one computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True, eq=False)
class Block:
    """Rows ``start .. start + len(x)`` of an utterance of ``total`` frames."""

    x: np.ndarray
    start: int
    total: int

    @property
    def end(self) -> int:
        return self.start + self.x.shape[0]

    @property
    def at_start(self) -> bool:
        return self.start == 0

    @property
    def at_end(self) -> bool:
        return self.end == self.total

    def with_rows(self, x: np.ndarray) -> "Block":
        """The same frames, other values (a frame-by-frame stage)."""
        return Block(x, self.start, self.total)

    def crop(self, a: int, b: int) -> np.ndarray:
        """Rows for utterance frames ``a .. b`` (which the block must hold)."""
        if a < self.start or b > self.end:
            raise ValueError(f"frames {a}..{b} asked of a block holding {self.start}..{self.end}")
        return self.x[a - self.start:b - self.start]


def context_of(offsets: Sequence[int]) -> tuple[int, int]:
    """Frames needed before and after a frame by a stage looking at these offsets."""
    return max(0, -min(offsets)), max(0, max(offsets))


def output_range(block: Block, left: int, right: int) -> tuple[int, int]:
    """The utterance frames a stage with this context computes exactly from ``block``."""
    lo = block.start if block.at_start else block.start + left
    hi = block.end if block.at_end else block.end - right
    return lo, max(lo, hi)


def gather(block: Block, offsets: Sequence[int]) -> tuple[list[np.ndarray], int, int]:
    """For each offset o, the rows t + o (clamped to the utterance) of every frame t the block
    can compute exactly; and that range of frames (lo, hi)."""
    left, right = context_of(offsets)
    lo, hi = output_range(block, left, right)
    t = np.arange(lo, hi)
    return [block.x[np.clip(t + int(o), 0, block.total - 1) - block.start] for o in offsets], \
        lo, hi


def splice_block(block: Block, offsets: Sequence[int]) -> Block:
    """Kaldi's splice: each frame with its neighbours at ``offsets``, side by side."""
    parts, lo, hi = gather(block, offsets)
    x = np.concatenate(parts, axis=1) if parts[0].shape[0] else \
        np.zeros((0, block.x.shape[1] * len(offsets)), block.x.dtype)
    return Block(x, lo, block.total)


def whole(x: np.ndarray) -> Block:
    """A whole utterance as one block."""
    return Block(x, 0, x.shape[0])
