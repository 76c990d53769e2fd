"""What a synthesiser said when: phone labels with end times, kept exact through augmentation.

A :class:`Timeline` is the label track of one utterance at sample precision (seconds, not
frames), so that every change of the audio's time axis (leading and trailing padding, speed
perturbation) is applied to the labels too, and the per-frame labels are taken only at the
end, from the final audio's frames: frame i (the 25 ms window starting at 10 i ms) gets the
label at its centre, as :func:`deepbrain.corpus.labels.frame_labels` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import CorpusError
from .phones import PHONE_IDS, arpabet_to_timit


@dataclass(frozen=True, eq=False)
class Timeline:
    """``labels[k]`` (TIMIT-39) spans ``[ends[k-1], ends[k])`` seconds (``ends[-1]`` is
    the end of the audio; the first label starts at 0)."""

    labels: tuple[str, ...]
    ends: np.ndarray

    def __post_init__(self):
        if len(self.labels) != len(self.ends) or not len(self.labels):
            raise CorpusError(f"a timeline needs one end time per label, got "
                              f"{len(self.labels)} labels and {len(self.ends)} ends")

    @property
    def duration(self) -> float:
        return float(self.ends[-1])

    def scaled(self, factor: float) -> "Timeline":
        """Times multiplied by ``factor`` (speed perturbation by s scales them by 1/s)."""
        return Timeline(self.labels, self.ends * factor)

    def padded(self, lead: float, tail: float) -> "Timeline":
        """``lead`` seconds of sil before and ``tail`` after."""
        labels, ends = list(self.labels), list(self.ends + lead)
        if lead > 0:
            labels.insert(0, "sil")
            ends.insert(0, lead)
        if tail > 0:
            labels.append("sil")
            ends.append(ends[-1] + tail)
        return Timeline(tuple(labels), np.asarray(ends, dtype=np.float64))

    def frame_ids(self, n_frames: int, frame_shift: float = 0.010,
                  frame_length: float = 0.025) -> np.ndarray:
        """Phone ids (phones.txt) of frames 0..n_frames-1, each the label at its centre."""
        centres = frame_shift * np.arange(n_frames) + frame_length / 2
        k = np.minimum(np.searchsorted(self.ends, centres, side="right"), len(self.labels) - 1)
        ids = np.array([PHONE_IDS[p] for p in self.labels], dtype=np.int32)
        return ids[k]


def from_arpabet(names: Sequence[str], ends: Sequence[float], source: str) -> Timeline:
    """A timeline from ARPAbet segments (Festival's and Flite's Segment relation: name and
    end time); neighbouring segments with the same TIMIT-39 label stay separate entries."""
    labels = []
    for name in names:
        label = arpabet_to_timit(name)
        if label is None:
            raise CorpusError(f"{source} produced phone {name!r}, which the TIMIT-39 map does "
                              f"not know; add it to deepbrain.corpus.phones.ARPABET_TO_TIMIT")
        labels.append(label)
    e = np.maximum.accumulate(np.asarray(ends, dtype=np.float64))
    return Timeline(tuple(labels), e)


def from_sample_ids(ids: np.ndarray, rate: int, names: Sequence[str]) -> Timeline:
    """A timeline from per-sample phone ids (``names[id]``), e.g. the espeak labeller's."""
    ids = np.asarray(ids)
    edges = np.flatnonzero(np.diff(ids)) + 1
    ends = np.concatenate([edges, [ids.size]]) / float(rate)
    return Timeline(tuple(names[int(ids[e - 1])] for e in np.concatenate([edges, [ids.size]])),
                    ends)
