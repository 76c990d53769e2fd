"""A model's front end and network on any frames of an utterance, exactly.

An utterance goes through two passes, as in Kaldi:

1. :func:`extract` streams the audio once through feature extraction (``mfcc``/``fbank``),
   pastes pitch on when the model has it, and runs ``apply-cmvn-online`` when the model has
   it (causal: each frame from the frames before it). It keeps the frames (dim floats each:
   19 MB an hour of 13 MFCCs). Offline CMVN statistics are summed from these frames (per
   utterance or speaker). Without pitch the audio is never held whole; pitch needs it whole
   (see :func:`_pitch`).
2. :class:`UtteranceComputer` computes any frames ``a .. b``: it takes the features of
   ``a - L .. b + R`` (L, R the context of the frame stages and the network) and runs
   ``apply-cmvn``, ``add-deltas``, ``splice-feats``, ``transform-feats``, the feature
   transform and the network on that block (:mod:`deepbrain.blocks`), every stage repeating
   the utterance's edge frames exactly where Kaldi does. Chunks in order are streaming;
   any chunk is the window's frames on demand; ``0 .. T`` is the whole utterance. A chunk's
   frames equal the whole utterance's bit for bit up to the first matrix product
   (transform-feats, the networks); from there to float32 rounding, as BLAS sums a row in
   an order that depends on how many rows it is given (measured: 3e-5 on values near 50,
   4e-6 on sigmoid outputs; tests/test_frontend.py).

Every stage's output is checked for NaN/inf, so an error names the first stage that gave them.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Iterable, Sequence

import numpy as np

from .artefacts import Chunk, first_nonfinite, nonfinite_error
from .blocks import Block, splice_block
from .errors import AudioError
from .features import (F32, FeatureStream, add_deltas_block, apply_cmvn, apply_cmvn_online,
                       expected_frames, transform_feats)
from .model import Model
from .pitch import GlibcRand, MakePitchOptions, append_pitch


FIRST_PASS = ("pitch", "online-cmvn")  # stages extract() runs after the extraction itself


@dataclass(frozen=True, eq=False)
class Extracted:
    """What the first pass keeps of an utterance: its features, and the same frames after
    apply-cmvn-online when the model has it (else None)."""

    utt_id: str
    feats: np.ndarray
    online_cmvn: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return self.feats.shape[0]

    @property
    def chain_input(self) -> np.ndarray:
        """What the frame stages start from."""
        return self.online_cmvn if self.online_cmvn is not None else self.feats


def extract(utt_id: str, pieces: Iterable[np.ndarray], num_samples: int, source: str,
            sample_rate: int, model: Model, speaker_stats: np.ndarray | None = None,
            pitch_rand: GlibcRand | None = None) -> Extracted:
    """The first pass over one utterance's samples, given in pieces (16-bit scale).

    ``pitch_rand``: the delta-pitch noise of one process-kaldi-pitch-feats run continued
    over the utterances before this one (getact.sh runs one over the whole data dir, in
    the order of its sorted wav.scp); None starts a new run, as for a single utterance."""
    fe = model.frontend
    opts = fe.features
    expected = expected_frames(num_samples, sample_rate, opts, source)
    stream = FeatureStream(opts)
    feats = np.empty((expected, opts.dim), dtype=F32)
    samples = np.empty(num_samples, dtype=F32) if fe.pitch is not None else None
    n = got_samples = 0
    for piece in pieces:
        if samples is not None:
            samples[got_samples:got_samples + piece.shape[0]] = piece
            got_samples += piece.shape[0]
        got = stream.accept(piece)
        feats[n:n + got.shape[0]] = got
        n += got.shape[0]
    got = stream.finish()
    feats[n:n + got.shape[0]] = got
    n += got.shape[0]
    if n != expected:  # an internal invariant of the two libraries agreeing
        raise AudioError(f"{source}: {opts.binary} gave {n} frames, Kaldi's rule says "
                         f"{expected}")
    if opts.subtract_mean:
        feats -= feats.mean(axis=0, dtype=np.float64).astype(F32)
    if samples is not None:
        feats = _pitch(feats, samples, fe.pitch, pitch_rand, sample_rate, source)
    _check(utt_id, "feats", 0, feats, model)
    online = None
    stage = fe.stage("online-cmvn")
    if stage is not None:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            online = apply_cmvn_online(feats, stage.options, fe.global_cmvn_stats,
                                       speaker_stats)
        _check(utt_id, "cmvn_feats", 0, online, model)
    return Extracted(utt_id, feats, online)


def _pitch(feats: np.ndarray, samples: np.ndarray, opts: MakePitchOptions,
           rand: GlibcRand | None, sample_rate: int, source: str) -> np.ndarray:
    """make_mfcc_pitch.sh's paste of pitch onto the features.

    compute-kaldi-pitch-feats takes an utterance whole: its NCCF ballast comes from the
    energy of all the samples it was given at once, and its first 500 frames are recomputed
    with the final energy, so pieces would give other numbers. The samples are therefore
    kept (4 bytes each: 230 MB an hour at 16 kHz), and the tracker keeps what Kaldi's keeps
    (a backpointer and an NCCF per frame and lag state: 2.5 KB a frame with the default
    50..400 Hz). Measured with tracemalloc on 60 s and 180 s of audio: the tracker's peak
    grows by 0.32 MB a second of audio (47 and 86 MB), so with the samples about 1.4 GB an
    hour of audio, freed when the utterance is done. Cut recordings of many minutes into
    parts when the model has pitch."""
    return append_pitch(feats, samples, opts, rand, sample_rate, source)


def _check(utt_id: str, stage: str, start: int, m: np.ndarray | None, model: Model) -> None:
    bad = first_nonfinite([(stage, m)])
    if bad is not None:
        raise nonfinite_error(utt_id, stage, start + bad[1], model.path)


class UtteranceComputer:
    """Frames ``a .. b`` of one utterance on request (see the module's docstring)."""

    def __init__(self, model: Model, extracted: Extracted, cmvn_stats: np.ndarray | None,
                 layers: Sequence[int], output: bool = False, keep_stages: bool = False):
        self.model = model
        self.utt = extracted
        self.stats = cmvn_stats
        self.layers = tuple(layers)
        self.output = output
        self.keep = keep_stages
        self.stages = [s for s in model.frontend.stages[1:] if s.name not in FIRST_PASS]
        left, right = sum(s.left for s in self.stages), sum(s.right for s in self.stages)
        for net in (model.feature_transform, model.nnet):
            if net is not None:
                lc, rc = net.context
                left, right = left + lc, right + rc
        self.context = (left, right)

    @property
    def num_frames(self) -> int:
        return self.utt.num_frames

    def compute(self, a: int, b: int) -> Chunk:
        """Every requested layer (and the output and stages, if asked) for frames a .. b."""
        total = self.num_frames
        if not 0 <= a < b <= total:
            raise ValueError(f"frames {a}..{b} of an utterance of {total}")
        left, right = self.context
        s, e = max(0, a - left), min(total, b + right)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._compute(a, b, Block(self.utt.chain_input[s:e], s, total))

    def _compute(self, a: int, b: int, block: Block) -> Chunk:
        model, utt = self.model, self.utt.utt_id
        kept: dict[str, np.ndarray] = {}
        if self.keep:
            kept["feats"] = self.utt.feats[a:b]
            if self.utt.online_cmvn is not None:
                kept["cmvn_feats"] = self.utt.online_cmvn[a:b]
        for stage in self.stages:
            block = _STAGE_RUNNERS[stage.name](block, stage, self)
            _check(utt, stage.output, block.start, block.x, model)
            if self.keep:
                kept[stage.output] = block.crop(a, b)
        if model.feature_transform is not None:
            _, block = model.feature_transform.propagate_block(block, (), True)
            _check(utt, "nnet_input", block.start, block.x, model)
        if self.keep:
            kept["nnet_input"] = block.crop(a, b)
        layers, out = model.nnet.propagate_block(block, self.layers, self.output)
        cropped = {}
        for k in sorted(layers):
            _check(utt, f"layer{k}", layers[k].start, layers[k].x, model)
            cropped[k] = np.ascontiguousarray(layers[k].crop(a, b))
        output = None
        if out is not None:
            _check(utt, "output", out.start, out.x, model)
            output = np.ascontiguousarray(out.crop(a, b))
        whole = {"cmvn": self.stats} if self.keep and self.stats is not None and a == 0 else {}
        return Chunk(utt, a, self.num_frames, MappingProxyType(cropped), output,
                     MappingProxyType(kept), MappingProxyType(whole))

    def chunks(self, size: int) -> Iterable[Chunk]:
        for a in range(0, self.num_frames, size):
            yield self.compute(a, min(self.num_frames, a + size))


def _cmvn(block: Block, stage, comp: UtteranceComputer) -> Block:
    return block.with_rows(apply_cmvn(block.x, comp.stats, stage.options))


def _deltas(block: Block, stage, comp: UtteranceComputer) -> Block:
    return add_deltas_block(block, stage.options)


def _splice(block: Block, stage, comp: UtteranceComputer) -> Block:
    return splice_block(block, stage.options.offsets)


def _transform(block: Block, stage, comp: UtteranceComputer) -> Block:
    return block.with_rows(transform_feats(block.x, stage.options, stage.source))


_STAGE_RUNNERS: dict[str, Callable[[Block, object, UtteranceComputer], Block]] = {
    "cmvn": _cmvn, "deltas": _deltas, "splice": _splice, "transform": _transform}
