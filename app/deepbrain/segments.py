"""Phone segments of an utterance: what is said when.

One vocabulary for the aligner (``deepbrain align`` writes them), the window's phone lane
(reads them) and evaluation (compares them with what the model hears). Two Kaldi forms hold
them on disk, and both are read and written here:

- a **CTM** as ``ali-to-phones --ctm-output`` writes it: ``utt channel start duration phone``
  per line, times in seconds, one line per phone (a sixth field, a confidence, is allowed);
- **per-frame phone ids**, an int-vector table (ark/scp) read against a ``phones.txt``, as
  ``ali-to-phones --per-frame=true`` writes it.

A segment's times are whole frames: frame ``i`` covers ``[i * shift, (i + 1) * shift)``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .errors import FormatError


@dataclass(frozen=True)
class PhoneSegment:
    """``phone`` spoken over frames ``[start, end)`` (frame indices, end exclusive)."""

    phone: str
    start: int
    end: int

    @property
    def num_frames(self) -> int:
        return self.end - self.start

    def seconds(self, frame_shift: float) -> tuple[float, float]:
        return self.start * frame_shift, self.end * frame_shift


def segments_from_frames(ids: np.ndarray, names: Sequence[str]) -> list[PhoneSegment]:
    """Run-length segments of per-frame phone ids (``names[id]`` is the phone's symbol)."""
    ids = np.asarray(ids)
    if ids.size == 0:
        return []
    bad = (ids < 0) | (ids >= len(names))
    if bad.any():
        raise FormatError(f"phone id {int(ids[bad][0])} is outside the phone table "
                          f"(ids 0..{len(names) - 1})")
    edges = np.flatnonzero(np.diff(ids)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [ids.size]])
    return [PhoneSegment(names[int(ids[s])], int(s), int(e)) for s, e in zip(starts, ends)]


def frames_from_segments(segments: Iterable[PhoneSegment], ids: Mapping[str, int],
                         num_frames: int, fill: int = -1) -> np.ndarray:
    """Per-frame ids (``fill`` where no segment covers a frame) for ``num_frames`` frames;
    segments past the end are cut. A phone missing from ``ids`` is an error."""
    out = np.full(num_frames, fill, dtype=np.int32)
    for seg in segments:
        if seg.phone not in ids:
            raise FormatError(f"phone {seg.phone!r} is not in the phone table")
        out[max(seg.start, 0):min(seg.end, num_frames)] = ids[seg.phone]
    return out


def read_ctm(path: str | os.PathLike, frame_shift: float = 0.01
             ) -> dict[str, list[PhoneSegment]]:
    """A Kaldi CTM as utt_id -> segments in time order; times are rounded to frames."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: cannot read the CTM ({e}); expected lines "
                          f"'utt channel start duration phone'") from None
    out: dict[str, list[PhoneSegment]] = {}
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts or parts[0].startswith(";;"):
            continue
        if len(parts) not in (5, 6):
            raise FormatError(f"{path}: line {n} is not 'utt channel start duration phone' "
                              f"(a CTM as ali-to-phones --ctm-output writes)")
        try:
            start, dur = float(parts[2]), float(parts[3])
        except ValueError:
            raise FormatError(f"{path}: line {n}: start and duration must be numbers, found "
                              f"{parts[2]!r} {parts[3]!r}") from None
        if not (math.isfinite(start) and math.isfinite(dur)) or start < 0 or dur <= 0 \
                or start + dur > 1e7:
            raise FormatError(f"{path}: line {n}: start {parts[2]} and duration {parts[3]} "
                              f"must be finite, start >= 0 and duration > 0 (seconds)")
        first = int(round(start / frame_shift))
        last = int(round((start + dur) / frame_shift))
        out.setdefault(parts[0], []).append(PhoneSegment(parts[4], first, max(last, first + 1)))
    if not out:
        raise FormatError(f"{path}: no segments")
    for segs in out.values():
        segs.sort(key=lambda s: s.start)
    return out


def write_ctm(path: str | os.PathLike, segments: Mapping[str, Sequence[PhoneSegment]],
              frame_shift: float = 0.01) -> None:
    """As ``ali-to-phones --ctm-output``: ``utt 1 start duration phone``, times to 0.01 s."""
    lines = []
    for utt in sorted(segments):
        for seg in segments[utt]:
            start, end = seg.seconds(frame_shift)
            lines.append(f"{utt} 1 {start:.3f} {end - start:.3f} {seg.phone}\n")
    Path(path).write_text("".join(lines), encoding="utf-8")


def phone_at(segments: Sequence[PhoneSegment], frame: int) -> PhoneSegment | None:
    """The segment covering ``frame`` (segments in time order), or None."""
    lo, hi = 0, len(segments)
    while lo < hi:
        mid = (lo + hi) // 2
        if segments[mid].end <= frame:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(segments) and segments[lo].start <= frame:
        return segments[lo]
    return None
