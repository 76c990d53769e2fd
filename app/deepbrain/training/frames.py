"""A corpus split as frames: the model's front end on every utterance, with phone labels.

Each utterance goes through deepbrain's own stage functions (compute_mfcc_feats ->
compute_cmvn_stats + apply_cmvn per utterance -> splice_feats), so the network is trained on
exactly the numbers the numpy engine computes at run time, and that Kaldi computes within
float round-off. Utterances are kept concatenated in one matrix (rows ``starts[i]`` to
``starts[i + 1]`` are utterance i), which is what minibatch training wants.
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
                        if parts else self.labels[:0])

    def map_utterances(self, fn: Callable[[np.ndarray], np.ndarray]) -> "FrameSet":
        """The same frames with ``fn`` applied to each utterance's features (frame count kept)."""
        out = [fn(u) for u in self.utterances()]
        if any(o.shape[0] != u.shape[0] for o, u in zip(out, self.utterances())):
            raise TrainingError("a per-utterance feature function changed the frame count")
        return FrameSet(self.utt_ids, self.speakers, self.starts,
                        np.concatenate(out).astype(F32, copy=False), self.labels)


def utterance_features(path: str | os.PathLike, front_end: FrontEnd) -> np.ndarray:
    """One wav through mfcc -> cmvn (per utterance) -> splice: the LDA's input."""
    audio = load_for_model(path, int(front_end.mfcc.sample_frequency))
    feats = compute_mfcc_feats(audio, front_end.mfcc)
    cmvn_feats = apply_cmvn(feats, compute_cmvn_stats(feats), front_end.cmvn)
    return splice_feats(cmvn_feats, front_end.splice.left_context,
                        front_end.splice.right_context)


def read_split(data_dir: str | os.PathLike, front_end: FrontEnd = FrontEnd(),
               progress: ProgressHook | None = None,
               cancel: CancelHook | None = None) -> FrameSet:
    """A Kaldi data dir (``wav.scp``, ``utt2spk``, ``phones.scp``) as spliced features and
    labels; every utterance must have exactly one label per MFCC frame."""
    import kaldiio

    d = Path(data_dir)
    missing = [str(d / f) for f in ("wav.scp", "utt2spk", "phones.scp") if not (d / f).is_file()]
    if missing:
        raise TrainingError(f"{d}: not a labelled data dir, missing {', '.join(missing)}; "
                            f"make one with python -m deepbrain.corpus")
    utts = read_wav_scp(d / "wav.scp", d / "utt2spk")
    labels = dict(kaldiio.load_scp(str(d / "phones.scp")))
    feats, labs = [], []
    for i, utt in enumerate(utts):
        check_cancel(cancel)
        if utt.utt_id not in labels:
            raise TrainingError(f"{d / 'phones.scp'}: no phone labels for {utt.utt_id}")
        f = utterance_features(utt.path, front_end)
        y = np.asarray(labels[utt.utt_id], dtype=np.int32)
        if y.shape != (f.shape[0],):
            raise TrainingError(f"{d / 'phones.scp'}: {utt.utt_id} has {y.size} labels for "
                                f"{f.shape[0]} MFCC frames; labels must be per frame "
                                f"(25 ms / 10 ms, snip-edges)")
        feats.append(f)
        labs.append(y)
        if progress is not None:
            progress(Progress("features", i + 1, len(utts), utt.utt_id))
    starts = np.concatenate([[0], np.cumsum([len(y) for y in labs], dtype=np.int64)])
    return FrameSet(tuple(u.utt_id for u in utts), tuple(u.speaker for u in utts), starts,
                    np.concatenate(feats), np.concatenate(labs))
