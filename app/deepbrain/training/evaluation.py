"""The trained model on the held-out voices, through deepbrain's own numpy engine.

Test accuracy is measured on the written model directory exactly as a user runs it
(``load_model`` + ``compute_activations(engine="numpy")``): a frame is right when the
network output's largest posterior is its phone label.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..model import Model
from ..nnet1 import Nnet
from ..pipeline import (CancelHook, ProgressHook, Request, compute_activations,
                        read_wav_scp)
from .errors import TrainingError


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Frames right per utterance (``per_utt[utt_id] = (frames, correct, speech frames,
    speech correct)``, speech = not sil) and per voice."""

    per_utt: Mapping[str, tuple[int, int, int, int]]
    voices: Mapping[str, str]  # utt_id -> voice

    def _sum(self, utts=None) -> np.ndarray:
        rows = [self.per_utt[u] for u in (utts if utts is not None else self.per_utt)]
        return np.sum(rows, axis=0) if rows else np.zeros(4, dtype=np.int64)

    @property
    def frames(self) -> int:
        return int(self._sum()[0])

    @property
    def accuracy(self) -> float:
        n = self._sum()
        return float(n[1] / n[0])

    @property
    def speech_accuracy(self) -> float:
        """Accuracy over frames whose label is not sil."""
        n = self._sum()
        return float(n[3] / n[2]) if n[2] else float("nan")

    def voice_accuracy(self) -> dict[str, tuple[int, float]]:
        """voice -> (frames, accuracy)."""
        out = {}
        for v in sorted(set(self.voices.values())):
            n = self._sum([u for u, w in self.voices.items() if w == v])
            out[v] = (int(n[0]), float(n[1] / n[0]))
        return out

    def utt_accuracy(self, utt_id: str) -> float:
        frames, correct = self.per_utt[utt_id][:2]
        return correct / frames


def read_labels(data_dir: Path) -> dict[str, np.ndarray]:
    import kaldiio

    return {k: np.asarray(v, dtype=np.int32)
            for k, v in kaldiio.load_scp(str(data_dir / "phones.scp")).items()}


def run_test(model: Model, data_dir: Path, sample: Mapping[str, np.ndarray], sil: int,
             progress: ProgressHook | None = None, cancel: CancelHook | None = None
             ) -> tuple[Evaluation, dict[int, np.ndarray]]:
    """Accuracy on the data dir, and every hidden layer's activations on the sampled frames
    (``sample[utt_id]``: frame indices), stacked in utterance order; ``sil`` is the id of
    the silence label (left out of the speech-only accuracy)."""
    utts = read_wav_scp(data_dir / "wav.scp", data_dir / "utt2spk")
    labels = read_labels(data_dir)
    request = Request(tuple(range(1, model.num_hidden + 1)), output=True)
    per_utt, picked = {}, []
    for acts in compute_activations(utts, model, request, "numpy", progress, cancel):
        y = labels[acts.utt_id]
        if acts.output.shape[0] != y.size:
            raise TrainingError(f"{data_dir}: {acts.utt_id} has {y.size} labels, the model "
                                f"gives {acts.output.shape[0]} frames")
        right = acts.output.argmax(axis=1) == y
        speech = y != sil
        per_utt[acts.utt_id] = (y.size, int(right.sum()), int(speech.sum()),
                                int(right[speech].sum()))
        rows = sample.get(acts.utt_id, np.zeros(0, np.int64))
        picked.append({k: a[rows] for k, a in acts.layers.items()})
    layers = {k: np.concatenate([p[k] for p in picked]) for k in request.layers}
    return Evaluation(per_utt, {u.utt_id: u.speaker for u in utts}), layers


def split_sample(data_dir: Path, chosen: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Global frame indices (over the data dir's utterances in wav.scp order) as per-utterance
    indices, and the labels of those frames in the same order."""
    utts = read_wav_scp(data_dir / "wav.scp", data_dir / "utt2spk")
    labels = read_labels(data_dir)
    out, ys, start = {}, [], 0
    for u in utts:
        n = labels[u.utt_id].size
        mine = chosen[(chosen >= start) & (chosen < start + n)] - start
        out[u.utt_id] = mine
        ys.append(labels[u.utt_id][mine])
        start += n
    return out, np.concatenate(ys)


def all_labels(data_dir: Path) -> np.ndarray:
    """Every frame's label, utterances in wav.scp order."""
    utts = read_wav_scp(data_dir / "wav.scp", data_dir / "utt2spk")
    labels = read_labels(data_dir)
    return np.concatenate([labels[u.utt_id] for u in utts])


def with_network(model: Model, nnet: Nnet) -> Model:
    """The same model dir with another network (e.g. the untrained one, as a control)."""
    return dataclasses.replace(model, nnet=nnet)
