"""A corpus split as frames: the model's front end on every utterance, with phone labels.

Each utterance goes through deepbrain's own stage functions (compute_mfcc_feats ->
compute_cmvn_stats + apply_cmvn per utterance -> splice_feats), so the network is trained on
exactly the numbers the numpy engine computes at run time, and that Kaldi computes within
float round-off. Utterances are kept concatenated in one matrix (rows ``starts[i]`` to
``starts[i + 1]`` are utterance i), which is what minibatch training wants.

With ``copies`` > 1 each utterance is read that many times: copy 0 as it is, the others
through a seeded :class:`~.perturb.Perturbation` each (VTLP, silences; see :mod:`.perturb`),
the copies of one utterance next to each other (``FrameSet.copies`` numbers them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..audio import load_for_model
from ..features import (apply_cmvn, compute_cmvn_stats, compute_mfcc_feats, splice_feats)
from ..options import CmvnOptions, MfccOptions, SpliceOptions
from ..pipeline import CancelHook, Progress, ProgressHook, check_cancel, read_wav_scp
from .errors import TrainingError

F32 = np.float32


@dataclass(frozen=True)
class FrontEnd:
    """The model's front end up to the LDA: what conf/mfcc.conf, cmvn_opts and splice_opts
    say (the seed system's: 13 MFCCs, means-only CMVN per utterance, splice +-3)."""

    mfcc: MfccOptions = MfccOptions()
    cmvn: CmvnOptions = CmvnOptions()
    splice: SpliceOptions = SpliceOptions()


@dataclass(frozen=True, eq=False)
class FrameSet:
    """Frames of whole utterances: ``feats`` (frames x dim, float32) and ``labels`` (int32
    phone ids), utterance i at rows ``starts[i]:starts[i + 1]``."""

    utt_ids: tuple[str, ...]
    speakers: tuple[str, ...]
    starts: np.ndarray
    feats: np.ndarray
    labels: np.ndarray
    copies: np.ndarray | None = None  # per utterance: 0 the original, k > 0 a perturbed copy

    @property
    def copy_numbers(self) -> np.ndarray:
        return np.zeros(len(self.utt_ids), dtype=np.int64) if self.copies is None \
            else self.copies

    @property
    def num_frames(self) -> int:
        return int(self.starts[-1])

    def rows(self, i: int) -> slice:
        return slice(int(self.starts[i]), int(self.starts[i + 1]))

    def utterances(self) -> list[np.ndarray]:
        """Each utterance's feature rows (views)."""
        return [self.feats[self.rows(i)] for i in range(len(self.utt_ids))]

    def subset(self, indices: Sequence[int]) -> "FrameSet":
        """The utterances at ``indices`` (in that order)."""
        parts = [self.rows(i) for i in indices]
        lengths = [s.stop - s.start for s in parts]
        return FrameSet(tuple(self.utt_ids[i] for i in indices),
                        tuple(self.speakers[i] for i in indices),
                        np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]),
                        np.concatenate([self.feats[s] for s in parts]) if parts else
                        self.feats[:0], np.concatenate([self.labels[s] for s in parts])
                        if parts else self.labels[:0],
                        None if self.copies is None else self.copies[list(indices)])

    def map_utterances(self, fn: Callable[[np.ndarray], np.ndarray]) -> "FrameSet":
        """The same frames with ``fn`` applied to each utterance's features (frame count kept)."""
        out = [fn(u) for u in self.utterances()]
        if any(o.shape[0] != u.shape[0] for o, u in zip(out, self.utterances())):
            raise TrainingError("a per-utterance feature function changed the frame count")
        return FrameSet(self.utt_ids, self.speakers, self.starts,
                        np.concatenate(out).astype(F32, copy=False), self.labels, self.copies)


def utterance_features(path: str | os.PathLike, front_end: FrontEnd) -> np.ndarray:
    """One wav through mfcc -> cmvn (per utterance) -> splice: the LDA's input."""
    audio = load_for_model(path, int(front_end.mfcc.sample_frequency))
    return _cmvn_splice(compute_mfcc_feats(audio, front_end.mfcc), front_end)


def _cmvn_splice(feats: np.ndarray, front_end: FrontEnd) -> np.ndarray:
    cmvn_feats = apply_cmvn(feats, compute_cmvn_stats(feats), front_end.cmvn)
    return splice_feats(cmvn_feats, front_end.splice.left_context,
                        front_end.splice.right_context)


@dataclass(frozen=True)
class _Job:
    """Read one utterance's copies (picklable, for the worker processes)."""

    front_end: FrontEnd
    copies: int
    seed: int
    sil: int

    def __call__(self, item: tuple[int, str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        from .perturb import draw_perturbation, mfcc_warped, perturb

        index, path, labels = item
        audio = load_for_model(path, int(self.front_end.mfcc.sample_frequency))
        feats = compute_mfcc_feats(audio, self.front_end.mfcc)
        if labels.shape != (feats.shape[0],):
            return [(feats, labels)]  # the caller names the mismatch
        out = [(_cmvn_splice(feats, self.front_end), labels)]
        for k in range(1, self.copies):
            p = draw_perturbation(np.random.default_rng([self.seed, index, k, 11]))
            x, y = perturb(audio.samples, labels, p, self.sil, self.front_end.mfcc)
            out.append((_cmvn_splice(mfcc_warped(x, self.front_end.mfcc, p.warp),
                                     self.front_end), y))
        return out


def read_split(data_dir: str | os.PathLike, front_end: FrontEnd = FrontEnd(),
               progress: ProgressHook | None = None, cancel: CancelHook | None = None,
               copies: int = 1, seed: int = 0, sil: int = 0, workers: int = 1) -> FrameSet:
    """A Kaldi data dir (``wav.scp``, ``utt2spk``, ``phones.scp``) as spliced features and
    labels; every utterance must have exactly one label per MFCC frame. ``copies`` per
    utterance (see the module doc; ``sil`` is the silence label padding gets), read by
    ``workers`` processes (the result does not depend on how many)."""
    import kaldiio

    d = Path(data_dir)
    missing = [str(d / f) for f in ("wav.scp", "utt2spk", "phones.scp") if not (d / f).is_file()]
    if missing:
        raise TrainingError(f"{d}: not a labelled data dir, missing {', '.join(missing)}; "
                            f"make one with python -m deepbrain.corpus")
    if copies < 1:
        raise TrainingError(f"copies must be at least 1, got {copies}")
    utts = read_wav_scp(d / "wav.scp", d / "utt2spk")
    labels = dict(kaldiio.load_scp(str(d / "phones.scp")))
    for utt in utts:
        if utt.utt_id not in labels:
            raise TrainingError(f"{d / 'phones.scp'}: no phone labels for {utt.utt_id}")
    job = _Job(front_end, copies, seed, sil)
    items = [(i, str(u.path), np.asarray(labels[u.utt_id], dtype=np.int32))
             for i, u in enumerate(utts)]
    feats, labs, ids, spks, nums = [], [], [], [], []
    for i, got in enumerate(_map(job, items, workers)):
        check_cancel(cancel)
        utt = utts[i]
        f, y = got[0]
        if y.shape != (f.shape[0],):
            raise TrainingError(f"{d / 'phones.scp'}: {utt.utt_id} has {y.size} labels for "
                                f"{f.shape[0]} MFCC frames; labels must be per frame "
                                f"(25 ms / 10 ms, snip-edges)")
        for k, (f, y) in enumerate(got):
            feats.append(f)
            labs.append(y)
            ids.append(utt.utt_id if k == 0 else f"{utt.utt_id}~{k}")
            spks.append(utt.speaker)
            nums.append(k)
        if progress is not None:
            progress(Progress("features", i + 1, len(utts), utt.utt_id))
    starts = np.concatenate([[0], np.cumsum([len(y) for y in labs], dtype=np.int64)])
    return FrameSet(tuple(ids), tuple(spks), starts, np.concatenate(feats),
                    np.concatenate(labs), np.asarray(nums, dtype=np.int64))


def _map(job: _Job, items: list, workers: int):
    """``job`` over ``items`` in order, in ``workers`` forked processes (1: in this one)."""
    if workers <= 1 or len(items) < 2:
        yield from map(job, items)
        return
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(job, items, chunksize=8)
