"""How often a model's output names the phone that is said: frame accuracy against labels.

A frame is right when the network output's largest posterior is the phone its label names
(phones compared by name, through the model's ``phones.txt`` and the labels' phone table,
word-position suffixes folded). Speech frames are those labelled with anything but
silence; silence frames those labelled ``sil`` (or another silence symbol). Labels come
from a labelled data dir (``phones.ark``, e.g. what ``deepbrain align`` writes or a corpus)
or from aligning wavs with their transcripts on the fly (:mod:`deepbrain.align`).

Qt-free; ``plot_confusion`` needs matplotlib (the ``maps`` extra).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .errors import DeepbrainError, FormatError, ModelError
from .maps.labels import SILENCE, fold, read_symbol_table
from .model import Model
from .pipeline import CancelHook, ProgressHook, Request, Utterance, compute_activations

LENGTH_TOLERANCE = 5  # frames, as nnet1 training's --length-tolerance


@dataclass(frozen=True, eq=False)
class Scores:
    """Frame counts: ``confusion[i, j]`` frames labelled ``phones[i]`` that the model called
    ``phones[j]``; ``phones`` lists the model's outputs, then any label it cannot output."""

    phones: tuple[str, ...]
    confusion: np.ndarray
    utterances: int
    silence: frozenset

    def _rows(self, speech: bool) -> np.ndarray:
        return np.array([(p in self.silence) != speech for p in self.phones])

    def _acc(self, rows: np.ndarray) -> tuple[int, float]:
        n = int(self.confusion[rows].sum())
        right = int(np.trace(self.confusion * rows[:, None]))
        return n, (right / n if n else float("nan"))

    @property
    def frames(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return self._acc(np.ones(len(self.phones), bool))[1]

    @property
    def speech(self) -> tuple[int, float]:
        """(frames, accuracy) over frames labelled with a phone that is not silence."""
        return self._acc(self._rows(True))

    @property
    def silence_frames(self) -> tuple[int, float]:
        return self._acc(self._rows(False))

    def per_phone(self) -> dict[str, tuple[int, float]]:
        """phone -> (frames labelled with it, share of them the model got right)."""
        out = {}
        for i, p in enumerate(self.phones):
            n = int(self.confusion[i].sum())
            if n:
                out[p] = (n, float(self.confusion[i, i] / n))
        return out

    def __add__(self, other: "Scores") -> "Scores":
        if self.phones != other.phones:
            raise DeepbrainError("scores over different phone sets cannot be added")
        return Scores(self.phones, self.confusion + other.confusion,
                      self.utterances + other.utterances, self.silence)

    def as_dict(self) -> dict:
        sp, si = self.speech, self.silence_frames
        return {"utterances": self.utterances, "frames": self.frames,
                "accuracy": self.accuracy, "speech_frames": sp[0], "speech_accuracy": sp[1],
                "silence_frames": si[0], "silence_accuracy": si[1],
                "per_phone": {p: {"frames": n, "accuracy": a}
                              for p, (n, a) in self.per_phone().items()},
                "phones": list(self.phones), "confusion": self.confusion.tolist()}

    def summary_lines(self) -> list[str]:
        sp, si = self.speech, self.silence_frames
        lines = [f"{self.utterances} utterance(s), {self.frames} frames: "
                 f"{_pct(self.accuracy)} right",
                 f"speech frames  {sp[0]:8d}  {_pct(sp[1])}",
                 f"silence frames {si[0]:8d}  {_pct(si[1])}",
                 "per phone (frames, accuracy):"]
        items = sorted(self.per_phone().items(), key=lambda kv: (-kv[1][0], kv[0]))
        lines += [f"  {p:<5} {n:7d}  {_pct(a)}" for p, (n, a) in items]
        return lines


def _pct(x: float) -> str:
    return "   –" if np.isnan(x) else f"{100 * x:5.1f} %"


def model_phones(model: Model) -> tuple[str, ...]:
    """The model's output names (phones.txt in id order), folded."""
    if model.phones is None:
        raise ModelError(f"{model.path}: has no phones.txt, so its outputs have no phone "
                         f"names to compare with labels; add the phone table the network "
                         f"was trained on")
    if len(model.phones) != model.nnet.output_dim:
        raise ModelError(f"{model.path}: phones.txt names {len(model.phones)} phones, the "
                         f"network has {model.nnet.output_dim} outputs; they must match "
                         f"(a frame-level phone classifier)")
    return tuple(fold(p) for p in model.phones)


def read_phone_table(path: str | os.PathLike) -> dict[int, str]:
    """A ``phones.txt`` (``symbol id`` per line) as id -> folded symbol."""
    return {i: fold(sym) for i, sym in read_symbol_table(path).items()}


def names_from_ids(labels: Mapping[str, np.ndarray], table: Mapping[int, str], source: str
                   ) -> dict[str, list[str]]:
    """Per-frame phone ids as names; an id the table lacks is an error."""
    out = {}
    for utt, ids in labels.items():
        bad = [int(i) for i in np.unique(ids) if int(i) not in table]
        if bad:
            raise FormatError(f"{source}: utterance {utt} has phone id {bad[0]}, which the "
                              f"phone table does not have; give the phones.txt the labels "
                              f"were written with (--phones)")
        out[utt] = [table[int(i)] for i in ids]
    return out


class Scorer:
    """Accumulates a confusion matrix over the model's phones plus unknown label names."""

    def __init__(self, phones: Sequence[str]):
        self.phones = list(phones)
        self.index = {p: i for i, p in enumerate(self.phones)}
        self.counts: dict[tuple[int, int], int] = {}
        self.utterances = 0

    def add(self, truth: Sequence[str], predicted: np.ndarray, utt: str, source: str) -> None:
        diff = len(truth) - predicted.size
        if abs(diff) > LENGTH_TOLERANCE:
            raise FormatError(f"{source}: utterance {utt} has {len(truth)} labels for "
                              f"{predicted.size} frames (more than {LENGTH_TOLERANCE} apart); "
                              f"the labels belong to other audio or other frame options")
        n = min(len(truth), predicted.size)
        for label in set(truth[:n]):
            if label not in self.index:
                self.index[label] = len(self.phones)
                self.phones.append(label)
        rows = np.array([self.index[p] for p in truth[:n]], dtype=np.int64)
        pairs, counts = np.unique(np.stack([rows, predicted[:n]]), axis=1, return_counts=True)
        for (i, j), c in zip(pairs.T, counts):
            self.counts[(int(i), int(j))] = self.counts.get((int(i), int(j)), 0) + int(c)
        self.utterances += 1

    def scores(self) -> Scores:
        m = np.zeros((len(self.phones), len(self.phones)), dtype=np.int64)
        for (i, j), c in self.counts.items():
            m[i, j] = c
        silence = frozenset(p for p in self.phones if p in SILENCE)
        return Scores(tuple(self.phones), m, self.utterances, silence)


def score_model(model: Model, utts: Sequence[Utterance], truth: Mapping[str, Sequence[str]],
                engine="numpy", resample: bool = False, source: str = "labels",
                progress: ProgressHook | None = None, cancel: CancelHook | None = None
                ) -> Scores:
    """Run every utterance through ``model`` and score its output against ``truth``
    (utt_id -> phone name per frame). Utterances without labels are an error."""
    phones = model_phones(model)
    missing = [u.utt_id for u in utts if u.utt_id not in truth]
    if missing:
        raise FormatError(f"{source}: no labels for {len(missing)} utterance(s): "
                          f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    scorer = Scorer(phones)
    request = Request((1,), output=True, resample=resample)
    for act in compute_activations(list(utts), model, request, engine, progress, cancel):
        scorer.add(truth[act.utt_id], act.output.argmax(axis=1), act.utt_id, source)
    return scorer.scores()


def plot_confusion(scores: Scores, path: str | os.PathLike, title: str = "") -> Path:
    """A PNG of the confusion matrix, each row (a labelled phone) scaled to sum to 1."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DeepbrainError("--plot needs matplotlib: pip install 'deepbrain[maps]'") \
            from None
    keep = [i for i, _ in enumerate(scores.phones) if scores.confusion[i].sum() or
            scores.confusion[:, i].sum()]
    m = scores.confusion[np.ix_(keep, keep)].astype(float)
    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    names = [scores.phones[i] for i in keep]
    fig, ax = plt.subplots(figsize=(9, 8), dpi=100)
    im = ax.imshow(share, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("model output")
    ax.set_ylabel("label")
    sp, si = scores.speech, scores.silence_frames
    ax.set_title((title + "\n" if title else "") + f"{scores.frames} frames; speech "
                 f"{_pct(sp[1]).strip()}, silence {_pct(si[1]).strip()}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the label's frames")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_json(scores: Scores, path: str | os.PathLike, extra: dict | None = None) -> None:
    Path(path).write_text(json.dumps({**(extra or {}), **scores.as_dict()}, indent=1) + "\n",
                          encoding="utf-8")


def total(parts: Iterable[Scores]) -> Scores:
    parts = list(parts)
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out
