"""The frames of an utterance the window has at hand: computed around the playhead, kept
within a memory budget.

An hour of audio through the demo model is 3.7 GB of activations (7 x 2048 units: 24 GB), so
the window never holds them all: a :class:`FrameSource` computes any frames ``a .. b`` exactly
(:class:`deepbrain.chain.UtteranceComputer`, a live microphone's
:class:`deepbrain.live.LiveComputer`, or rows read from arks), and a :class:`FrameCache` keeps
blocks of them, dropping the blocks farthest from the playhead when over its budget. An
utterance computed whole (a short one, or one from the Kaldi engine) is held as it is
(:class:`HeldFrames`), and the cache then holds nothing more.

No Qt here: the window's worker thread calls a source's ``compute``, its UI thread the cache.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterator, Mapping, Protocol

import numpy as np

from .artefacts import Activations, Chunk

BLOCK = 128                    # frames a block: 1.28 s, computed in one go
CACHE_BYTES = 96 << 20         # what the cache may hold (the playhead's neighbourhood)
WHOLE_BYTES = 192 << 20        # utterances whose activations fit are computed whole


class FrameSource(Protocol):
    """Frames of one utterance on request. ``num_frames`` may grow (live audio)."""

    utt_id: str
    engine: str

    @property
    def num_frames(self) -> int: ...

    @property
    def dims(self) -> Mapping[int, int]:
        """Units of each layer it gives."""

    @property
    def output_dim(self) -> int | None: ...

    def compute(self, a: int, b: int) -> Chunk: ...


def bytes_per_frame(dims: Mapping[int, int], output_dim: int | None) -> int:
    return 4 * (sum(dims.values()) + (output_dim or 0))


class HeldFrames:
    """An utterance computed whole (an :class:`~deepbrain.artefacts.Activations`)."""

    def __init__(self, acts: Activations):
        self.acts = acts
        self.utt_id, self.engine = acts.utt_id, acts.engine
        self.num_frames = acts.num_frames
        self.dims = MappingProxyType({k: m.shape[1] for k, m in acts.layers.items()})
        self.output_dim = acts.output.shape[1] if acts.output is not None else None

    def compute(self, a: int, b: int) -> Chunk:
        out = self.acts.output[a:b] if self.acts.output is not None else None
        return Chunk(self.utt_id, a, self.num_frames,
                     MappingProxyType({k: m[a:b] for k, m in self.acts.layers.items()}), out)


class ComputedFrames:
    """Frames computed on request by a chain (:class:`~deepbrain.chain.UtteranceComputer`
    or a finished :class:`~deepbrain.live.LiveComputer`); a lock keeps the chain to one
    caller at a time."""

    def __init__(self, computer, dims: Mapping[int, int], output_dim: int | None,
                 engine: str, utt_id: str):
        self.computer = computer
        self.dims = MappingProxyType(dict(dims))
        self.output_dim = output_dim
        self.engine, self.utt_id = engine, utt_id
        self._lock = threading.Lock()

    @property
    def num_frames(self) -> int:
        c = self.computer
        return int(c.ready if hasattr(c, "ready") else c.num_frames)

    def compute(self, a: int, b: int) -> Chunk:
        with self._lock:
            return self.computer.compute(a, b)


@dataclass
class _Block:
    start: int
    layers: dict[int, np.ndarray]
    output: np.ndarray | None
    filled: np.ndarray               # bool per frame


class FrameCache:
    """Blocks of computed frames (``block`` frames each) within ``budget`` bytes; or, for an
    utterance computed whole, that utterance. Every layer's running value range is kept (the
    absolute colour scale of a layer without a natural range)."""

    def __init__(self, dims: Mapping[int, int], output_dim: int | None, num_frames: int,
                 budget: int = CACHE_BYTES, block: int = BLOCK):
        self.dims, self.output_dim = dict(dims), output_dim
        self.num_frames = num_frames
        self.block, self.budget = block, budget
        self.blocks: dict[int, _Block] = {}
        self.held: Chunk | None = None
        self.ranges: dict[int, tuple[float, float]] = {}
        self.computed = 0             # frames put so far (counting repeats)

    @classmethod
    def holding(cls, source: HeldFrames) -> "FrameCache":
        cache = cls(source.dims, source.output_dim, source.num_frames)
        cache.held = source.compute(0, source.num_frames)
        cache._widen(cache.held)
        return cache

    @property
    def block_bytes(self) -> int:
        return self.block * bytes_per_frame(self.dims, self.output_dim)

    @property
    def nbytes(self) -> int:
        return len(self.blocks) * self.block_bytes

    @property
    def frames_kept(self) -> int:
        """How many frames the budget holds (at least four blocks)."""
        return max(4, self.budget // max(self.block_bytes, 1)) * self.block

    # -- putting -----------------------------------------------------------------------------

    def put(self, chunk: Chunk) -> None:
        """Keep ``chunk``'s frames (a chunk of the whole utterance is held as it is)."""
        if chunk.rows == 0 or self.held is not None:
            return
        self.computed += chunk.rows
        self._widen(chunk)
        a, b = chunk.start, chunk.start + chunk.rows
        for index in range(a // self.block, (b - 1) // self.block + 1):
            blk = self._block(index)
            lo, hi = max(a, blk.start), min(b, blk.start + self.block)
            rows = slice(lo - blk.start, hi - blk.start)
            src = slice(lo - a, hi - a)
            for k in blk.layers:
                blk.layers[k][rows] = chunk.layers[k][src]
            if blk.output is not None and chunk.output is not None:
                blk.output[rows] = chunk.output[src]
            blk.filled[rows] = True

    def _widen(self, chunk: Chunk) -> None:
        for k, m in chunk.layers.items():
            if k in self.dims and m.size:
                lo, hi = float(np.min(m)), float(np.max(m))
                old = self.ranges.get(k)
                self.ranges[k] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))

    def _block(self, index: int) -> _Block:
        blk = self.blocks.get(index)
        if blk is None:
            n = self.block
            blk = _Block(index * n, {k: np.zeros((n, d), np.float32) for k, d in
                                     self.dims.items()},
                         np.zeros((n, self.output_dim), np.float32)
                         if self.output_dim else None, np.zeros(n, bool))
            self.blocks[index] = blk
        return blk

    # -- asking ------------------------------------------------------------------------------

    def has(self, i: int) -> bool:
        if self.held is not None:
            return 0 <= i < self.held.rows
        blk = self.blocks.get(i // self.block) if i >= 0 else None
        return blk is not None and bool(blk.filled[i - blk.start])

    def rows(self, i: int) -> Mapping[int, np.ndarray] | None:
        """Every layer's row ``i`` (views), or None when it is not computed."""
        if self.held is not None:
            if not 0 <= i < self.held.rows:
                return None
            return {k: m[i] for k, m in self.held.layers.items()}
        if not self.has(i):
            return None
        blk = self.blocks[i // self.block]
        return {k: m[i - blk.start] for k, m in blk.layers.items()}

    def missing(self, a: int, b: int) -> list[tuple[int, int]]:
        """The frames of ``a .. b`` not computed, as ranges within one block each."""
        if self.held is not None:
            return []
        a, b = max(0, a), min(b, self.num_frames)
        out = []
        for index in range(a // self.block, (b - 1) // self.block + 1) if b > a else ():
            s, e = max(a, index * self.block), min(b, (index + 1) * self.block)
            blk = self.blocks.get(index)
            if blk is None:
                out.append((s, e))
                continue
            gaps = np.flatnonzero(~blk.filled[s - blk.start:e - blk.start])
            if gaps.size:
                out.append((s + int(gaps[0]), s + int(gaps[-1]) + 1))
        return out

    def chunks(self) -> Iterator[Chunk]:
        """What is held, as chunks of filled frames (in no particular order)."""
        if self.held is not None:
            yield self.held
            return
        for blk in list(self.blocks.values()):
            f = blk.filled
            edges = np.flatnonzero(np.diff(np.concatenate([[0], f.view(np.int8), [0]])))
            for s, e in zip(edges[::2], edges[1::2]):
                yield Chunk("", blk.start + int(s), self.num_frames,
                            MappingProxyType({k: m[s:e] for k, m in blk.layers.items()}),
                            blk.output[s:e] if blk.output is not None else None)

    def evict(self, keep_from: int, keep_to: int) -> int:
        """Drop blocks outside ``keep_from .. keep_to`` while over the budget, the farthest
        from that range first; returns how many were dropped."""
        dropped = 0
        while self.nbytes > self.budget and self.blocks:
            def distance(item):
                index, blk = item
                s, e = blk.start, blk.start + self.block
                return max(keep_from - e, s - keep_to, 0)
            index, blk = max(self.blocks.items(), key=distance)
            if distance((index, blk)) == 0:
                break
            del self.blocks[index]
            dropped += 1
        return dropped


class LiveFrames(ComputedFrames):
    """A microphone's frames (:class:`deepbrain.live.LiveComputer`): its samples are kept (the
    recording, int16) and fed as they arrive; frames become computable as their right context
    arrives (:attr:`num_frames` is those); :meth:`finish` ends the utterance. Feeding and
    computing share the lock, so the window may compute from another thread; the recording has
    a lock of its own, so that reading it never waits for a frame being computed."""

    def __init__(self, live, dims: Mapping[int, int], output_dim: int | None, rate: int):
        super().__init__(live, dims, output_dim, live.description, "live")
        self.rate = rate
        self._samples = np.zeros(rate * 30, np.int16)
        self._n = 0
        self._rec_lock = threading.Lock()

    def accept(self, samples: np.ndarray) -> int:
        """Samples from the microphone (int16); the frames computable now."""
        x = np.asarray(samples, np.int16)
        with self._rec_lock:
            if self._n + x.shape[0] > self._samples.shape[0]:
                grown = np.zeros(max(2 * self._samples.shape[0], self._n + x.shape[0]),
                                 np.int16)
                grown[:self._n] = self._samples[:self._n]
                self._samples = grown
            self._samples[self._n:self._n + x.shape[0]] = x
            self._n += x.shape[0]
        with self._lock:
            self.computer.accept(x.astype(np.float32))
            return self.computer.ready

    def finish(self) -> int:
        with self._lock:
            if not self.computer.finished:
                self.computer.finish()
            return self.computer.ready

    @property
    def finished(self) -> bool:
        return self.computer.finished

    def samples(self) -> np.ndarray:
        """What was recorded so far (a view: later samples do not change it)."""
        with self._rec_lock:
            return self._samples[:self._n]
