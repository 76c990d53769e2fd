"""What the panels show per frame, gathered from the frames computed so far.

An utterance computed around the playhead (or heard live) is never whole in memory, so the
phone the model hears, the region scores and a pinned unit's activation are kept per frame
for every frame computed (a few bytes a frame: 1.4 MB an hour for the heard phone), and
unknown (-1, NaN) elsewhere. Each chunk of frames adds its part (:class:`PerFrame.put`); the
panels draw what is known. For an utterance computed whole, the one chunk gives all of it and
these equal :func:`deepbrain.phonelanes.lane_from_output` and
:func:`deepbrain.regions.region_scores`.
"""

from __future__ import annotations

import bisect
from typing import Mapping, Sequence

import numpy as np

from .maps.labels import fold
from .maps.units import UnitTable
from .phonelanes import PhoneLane
from .regions import RegionScore, region_score
from .segments import PhoneSegment


class PerFrame:
    """Values of the frames of an utterance (``width`` per frame, or one), ``fill`` where not
    computed; grows as a live utterance does."""

    def __init__(self, num_frames: int, dtype=np.float32, fill=np.nan, width: int | None = None):
        self.fill, self.width = fill, width
        shape = (max(num_frames, 1),) + ((width,) if width else ())
        self._values = np.full(shape, fill, dtype)
        self.num_frames = num_frames

    @property
    def values(self) -> np.ndarray:
        return self._values[:self.num_frames]

    def put(self, start: int, values: np.ndarray) -> None:
        end = start + values.shape[0]
        if end > self._values.shape[0]:
            size = max(end, 2 * self._values.shape[0])
            grown = np.full((size,) + self._values.shape[1:], self.fill, self._values.dtype)
            grown[:self._values.shape[0]] = self._values
            self._values = grown
        self._values[start:end] = values
        self.num_frames = max(self.num_frames, end)

    def known(self) -> int:
        """How many frames have a value."""
        v = self.values
        bad = np.isnan(v) if v.dtype.kind == "f" else v == self.fill
        return int(v.shape[0] - (bad.all(axis=1) if v.ndim == 2 else bad).sum())


def heard_ids(output: np.ndarray | None, phones: Sequence[str] | None) -> np.ndarray | None:
    """The model's top phone per frame (indices into ``phones``), when its outputs are them."""
    if output is None or phones is None or output.ndim != 2 or output.shape[1] != len(phones):
        return None
    return np.argmax(output, axis=1).astype(np.int16)


def lane_from_ids(ids: np.ndarray, phones: Sequence[str], source: str = "model output"
                  ) -> PhoneLane:
    """Segments of equal phone ids; frames of id -1 (not computed) belong to none."""
    ids = np.asarray(ids)
    if ids.size == 0:
        return PhoneLane((), source)
    names = [fold(p) for p in phones]
    edges = np.flatnonzero(np.diff(ids)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [ids.size]])
    return PhoneLane(tuple(PhoneSegment(names[int(ids[s])], int(s), int(e))
                           for s, e in zip(starts, ends) if ids[s] >= 0), source)


def segments_within(segments: Sequence[PhoneSegment], a: int, b: int) -> list[PhoneSegment]:
    """The segments (in time order) that overlap frames ``a .. b``, shifted to start at
    ``a`` and cut to ``0 .. b - a``."""
    i = max(0, bisect.bisect_right([s.start for s in segments], a) - 1)
    out = []
    for seg in segments[i:]:
        if seg.start >= b:
            break
        if seg.end > a:
            out.append(PhoneSegment(seg.phone, max(seg.start, a) - a, min(seg.end, b) - a))
    return out


def chunk_scores(layers: Mapping[int, np.ndarray], start: int,
                 tables: Mapping[int, UnitTable], segments: Sequence[PhoneSegment],
                 floors: Mapping[int, float]) -> dict[int, np.ndarray]:
    """The region score per frame of a chunk's frames (``start ..``), per layer with a
    table: what :func:`deepbrain.regions.region_scores` gives for those frames."""
    out = {}
    for k, m in layers.items():
        if k in tables and m.shape[0]:
            inside = segments_within(segments, start, start + m.shape[0])
            out[k] = region_score(m, tables[k], inside, floors.get(k, 0.0)).per_frame
    return out


def as_scores(series: Mapping[int, PerFrame]) -> dict[int, RegionScore]:
    """The per-frame scores gathered so far as :class:`~deepbrain.regions.RegionScore` s
    (their means over the frames that have one)."""
    out = {}
    for k, s in sorted(series.items()):
        v = s.values.astype(np.float64)
        have = ~np.isnan(v)
        out[k] = RegionScore(k, v, float(v[have].mean()) if have.any() else float("nan"))
    return out
