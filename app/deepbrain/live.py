"""Live: frames computed as the microphone delivers audio, the same chain with online CMVN.

Offline CMVN needs the whole utterance's statistics before its first frame, which a live
microphone never has. A live chain is declared as such (never a hidden switch): the model's
offline ``apply-cmvn`` is replaced by ``apply-cmvn-online`` (Kaldi's OnlineCmvn semantics,
:func:`deepbrain.features.apply_cmvn_online`): the model's own online CMVN options and global
statistics where it has them, else a running window of the frames heard so far (no global
prior). Live numbers therefore differ from offline ones at the start of an utterance and
wherever the window differs from the utterance's mean; the window says so.

:class:`LiveComputer` takes samples in any pieces (:meth:`accept`), keeps the features (dim
floats a frame), and computes any frames whose right context has arrived (:attr:`ready`);
:meth:`finish` marks the end, after which the last frames are computed with the edge
repeated, as offline. The frame stages and the network are those of
:class:`deepbrain.chain.UtteranceComputer`.
"""

from __future__ import annotations

import numpy as np

from .artefacts import Chunk
from .chain import Extracted, UtteranceComputer
from .features import F32, FeatureStream, apply_cmvn
from .model import Model
from .options import OnlineCmvnOptions


class LiveComputer:
    """One live utterance. Not thread-safe: feed and compute from one thread."""

    def __init__(self, model: Model, layers, output: bool = False,
                 options: OnlineCmvnOptions | None = None):
        self.model = model
        fe = model.frontend
        stage = fe.stage("online-cmvn")
        self.options = options or (stage.options if stage is not None else OnlineCmvnOptions())
        self.global_stats = fe.global_cmvn_stats if stage is not None else None
        self.normalise = stage is not None or fe.cmvn is not None
        self._stream = FeatureStream(fe.features)
        dim = fe.features.dim
        # Grown by doubling (an hour of live audio is 360000 frames, one or two an accept)
        self._n = 0
        self._feats_buf = np.zeros((256, dim), F32)
        self._normed_buf = np.zeros((256, dim), F32)
        self._sums = np.zeros((257, dim))        # cumulative sums of the frames (double)
        self._squares = np.zeros((257, dim))
        self.finished = False
        self._computer = UtteranceComputer(model, Extracted("live", self._feats), None,
                                           layers, output, False)
        self._computer.stages = [s for s in self._computer.stages if s.name != "cmvn"]

    @property
    def description(self) -> str:
        """What the live chain does instead of the model's offline CMVN, for the window."""
        if not self.normalise:
            return "live: the model has no CMVN; frames as offline"
        source = "the model's online CMVN and global statistics" if self.global_stats \
            is not None else f"a running window of up to {self.options.cmn_window} frames"
        return f"live: online CMVN ({source}) instead of per-utterance CMVN: numbers differ " \
               f"from offline ones"

    @property
    def num_frames(self) -> int:
        """Frames heard so far."""
        return self._n

    @property
    def _feats(self) -> np.ndarray:
        return self._feats_buf[:self._n]

    @property
    def _normed(self) -> np.ndarray:
        return self._normed_buf[:self._n]

    @property
    def ready(self) -> int:
        """Frames that can be computed now: all once finished, else those whose right
        context (the chain's) has arrived."""
        right = self._computer.context[1]
        return self.num_frames if self.finished else max(0, self.num_frames - right)

    def accept(self, samples: np.ndarray) -> int:
        """Samples (16-bit scale) from the microphone; returns the new frames' count."""
        return self._add(self._stream.accept(samples))

    def finish(self) -> int:
        n = self._add(self._stream.finish())
        self.finished = True
        self._sync()
        return n

    def compute(self, a: int, b: int) -> Chunk:
        """Frames a .. b (b <= :attr:`ready`)."""
        if b > self.ready:
            raise ValueError(f"frames up to {b} asked, {self.ready} ready")
        self._sync()
        return self._computer.compute(a, b)

    def _add(self, feats: np.ndarray) -> int:
        m = feats.shape[0]
        if not m:
            return 0
        lo, hi = self._n, self._n + m
        if hi > self._feats_buf.shape[0]:
            self._grow(hi)
        self._feats_buf[lo:hi] = feats
        x = feats.astype(np.float64)
        self._sums[lo + 1:hi + 1] = self._sums[lo] + np.cumsum(x, axis=0)
        self._squares[lo + 1:hi + 1] = self._squares[lo] + np.cumsum(x * x, axis=0)
        self._n = hi
        self._normed_buf[lo:hi] = self._online_cmvn(lo, hi)
        return m

    def _grow(self, need: int) -> None:
        size = max(need, 2 * self._feats_buf.shape[0])

        def grown(a: np.ndarray, rows: int) -> np.ndarray:
            b = np.zeros((rows, a.shape[1]), a.dtype)
            b[:a.shape[0]] = a
            return b
        self._feats_buf = grown(self._feats_buf, size)
        self._normed_buf = grown(self._normed_buf, size)
        self._sums = grown(self._sums, size + 1)
        self._squares = grown(self._squares, size + 1)

    def _online_cmvn(self, lo: int, hi: int) -> np.ndarray:
        """apply-cmvn-online of frames lo .. hi from the window of frames before each."""
        feats = self._feats[lo:hi]
        if not self.normalise:
            return feats
        o, dim = self.options, feats.shape[1]
        ends = np.arange(lo + 1, hi + 1)
        starts = np.maximum(0, ends - o.cmn_window)
        stats = np.zeros((hi - lo, 2, dim + 1))
        stats[:, 0, :dim] = self._sums[ends] - self._sums[starts]
        if o.norm_vars:
            stats[:, 1, :dim] = self._squares[ends] - self._squares[starts]
        count = (ends - starts).astype(np.float64)
        stats[:, 0, dim] = count
        if self.global_stats is not None:
            take = np.where(count < o.cmn_window,
                            np.minimum(o.cmn_window - count, o.global_frames), 0.0)
            stats += (take / self.global_stats[0, dim])[:, None, None] * self.global_stats
            if not o.norm_vars:
                stats[:, 1] = 0.0
        for d in o.skipped:
            if 0 <= d < dim:
                stats[:, 0, d] = 0.0
                stats[:, 1, d] = stats[:, 0, dim]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return apply_cmvn(feats, stats, o)

    def _sync(self) -> None:
        """Hand the frames heard so far to the chain (its edge is the utterance's only once
        finished; before, frames near the end are not asked for)."""
        self._computer.utt = Extracted("live", self._feats, self._normed)
        if not self.finished:
            self._computer.utt = _Growing(self._feats, self._normed)


class _Growing(Extracted):
    """An utterance still being heard: its end is not an edge (nothing is repeated there)."""

    def __init__(self, feats: np.ndarray, normed: np.ndarray):
        super().__init__("live", feats, normed)

    @property
    def num_frames(self) -> int:  # no block ever reaches it: frames past ready are refused
        return self.feats.shape[0] + 10 ** 9
