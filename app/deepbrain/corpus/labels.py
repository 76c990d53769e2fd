"""espeak-ng phoneme events → TIMIT-39 labels per sample and per 10 ms frame.

A phone spans [its event's sample, the next event's sample). The raw events are exact at the
synthesiser's joins but have four systematic quirks; these fixes run in this order:

1. **Linking r**: an r-coloured unit (``A@``…) followed by an ``r`` keeps only its vowel.
2. **Dark l**: post-vocalic ``l`` comes as the *ending of the preceding vowel* and its event
   has zero length. The vowel's tail is given to ``l`` at the point of largest spectral change
   (least-squares split of 12 log band energies), limited to 45–85 % of the segment.
3. **Two-phone units** (r-coloured vowels, ``aI@ aI3 aU@ i@``) are split into their two
   TIMIT phones the same acoustic way, limited to 35–75 %.
4. **Nasal/liquid → vowel**: espeak starts the vowel's event after its onset transition, so
   10–35 ms of vowel carry the consonant's label. The boundary moves back to the half-way
   point of the 300–3000 Hz energy rise within the last 50 ms, if the rise is >= 6 dB.
5. **Voice bar of voiced stops** (b d g after a vowel, or after l r w y, where espeak makes
   the same voice bar; the probe did vowels only): the part before the release (largest
   >= 15 dB rise of 2–8 kHz energy) becomes ``sil``, as TIMIT's bcl/dcl/gcl.
   ``VOICED_CLOSURE_AS_SIL`` switches this off.
6. **Digital zeros**: every run of |x| <= 2 lasting >= 5 ms becomes ``sil``. espeak emits a
   stop's closure *before* the stop's event (so it sat on the previous phone), and pauses and
   12 ms word gaps as exact zeros; this matches TIMIT's closures → sil.

Simplified against the probe: the searches use fixed Hann windows (10 ms / 2 ms hop for
splits, 20 ms / 1 ms for onsets, smoothing the pitch ripple, 5 ms / 1 ms for releases) and
fall back to the middle of the allowed range when a segment is under ~20 ms; a zero-length
``l`` after a non-vowel is dropped; the onset fix only moves boundaries back, never forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import acoustics
from .errors import CorpusError
from .phones import NASALS_LIQUIDS, PHONE_IDS, SIL, VOICED_STOPS, VOWELS, to_timit

VOICED_CLOSURE_AS_SIL = True
DARK_L_SPLIT = (0.45, 0.85)
UNIT_SPLIT = (0.35, 0.75)
_BEFORE_VOICE_BAR = VOWELS | {"l", "r", "w", "y"}
_MIN_EVENT = acoustics.ms_to_samples(1)  # a shorter l event is espeak's zero-length dark l
_STOP_IDS = frozenset(PHONE_IDS[p] for p in ("p", "t", "k", "b", "d", "g", "ch", "jh"))
MAX_CLOSURE_MS = 150  # a longer zero run before a stop is a pause, not a closure


@dataclass
class _Seg:
    labels: list[str]
    start: int
    end: int
    dark_l: bool = False

    @property
    def length(self) -> int:
        return self.end - self.start


def raw_segments(events, n_samples: int) -> list[_Seg]:
    """One segment per PHONEME event (mapped to TIMIT-39); audio before the first is sil."""
    segs = [_Seg(["sil"], 0, events[0][1] if events else n_samples)]
    for k, (name, start) in enumerate(events):
        labels = to_timit(name)
        if labels is None:
            raise CorpusError(f"espeak-ng produced phoneme {name!r}, which the TIMIT-39 map "
                              f"does not know; add it to deepbrain.corpus.phones.ESPEAK_TO_TIMIT")
        end = events[k + 1][1] if k + 1 < len(events) else n_samples
        segs.append(_Seg(list(labels), min(start, n_samples), min(max(end, start), n_samples)))
    return segs


def _next_nonempty(segs: list[_Seg], i: int) -> _Seg | None:
    return next((s for s in segs[i + 1:] if s.length > 0), None)


def drop_linking_r(segs: list[_Seg]) -> None:
    """Fix 1: ``A@ r`` is aa + r, not aa + r + r."""
    for i, s in enumerate(segs):
        nxt = _next_nonempty(segs, i)
        if len(s.labels) == 2 and s.labels[1] == "r" and nxt is not None and nxt.labels[0] == "r":
            s.labels = s.labels[:1]


def attach_dark_l(segs: list[_Seg]) -> list[_Seg]:
    """Fix 2 (first half): a zero-length l joins the preceding vowel segment's labels."""
    out: list[_Seg] = []
    for s in segs:
        if s.labels == ["l"] and s.length < _MIN_EVENT:
            prev = next((p for p in reversed(out) if p.length > 0), None)
            if prev is not None and prev.labels[-1] in VOWELS and not prev.dark_l:
                prev.labels.append("l")
                prev.dark_l = True
            continue
        out.append(s)
    return out


def split_units(x: np.ndarray, segs: list[_Seg]) -> list[_Seg]:
    """Fixes 2 and 3: cut multi-label segments at their largest spectral change."""
    out: list[_Seg] = []
    for s in segs:
        parts = [s]
        if s.dark_l:
            cut = acoustics.best_split(x, s.start, s.end, *DARK_L_SPLIT)
            parts = [_Seg(s.labels[:-1], s.start, cut), _Seg(["l"], cut, s.end)]
        head = parts[0]
        if len(head.labels) == 2:
            cut = acoustics.best_split(x, head.start, head.end, *UNIT_SPLIT)
            parts[:1] = [_Seg(head.labels[:1], head.start, cut),
                         _Seg(head.labels[1:], cut, head.end)]
        out.extend(parts)
    return out


def move_onsets(x: np.ndarray, segs: list[_Seg]) -> None:
    """Fix 4: move nasal/liquid → vowel boundaries back to the vowel's energy rise."""
    for a, b in zip(segs, segs[1:]):
        if (a.labels[0] in NASALS_LIQUIDS and b.labels[0] in VOWELS and a.end == b.start
                and a.length > 0):
            floor = a.start + min(acoustics.ms_to_samples(10), a.length // 2)
            a.end = b.start = acoustics.onset_rise(x, b.start, floor)


def voiced_closures(x: np.ndarray, segs: list[_Seg]) -> list[_Seg]:
    """Fix 5: a voiced stop after a vowel (or l r w y) is sil up to its release."""
    out: list[_Seg] = []
    for s in segs:
        prev = next((p for p in reversed(out) if p.length > 0), None)
        if (VOICED_CLOSURE_AS_SIL and s.labels[0] in VOICED_STOPS and prev is not None
                and prev.labels[-1] in _BEFORE_VOICE_BAR and prev.end == s.start):
            rel = acoustics.release(x, s.start, s.end)
            if rel is not None and s.start < rel < s.end:
                out += [_Seg(["sil"], s.start, rel), _Seg(s.labels, rel, s.end)]
                continue
        out.append(s)
    return out


def sample_labels(x: np.ndarray, events, closures_as_sil: bool = True) -> np.ndarray:
    """Phone ids (phones.txt) for every sample of ``x`` (22050 Hz), all fixes applied.

    ``closures_as_sil=False`` gives a stop's closure to the stop instead (fix 5 is skipped
    and a digital-zero run that ends where a stop or affricate starts takes its label): the
    ARPAbet convention of CMUdict-based forced aligners (pocketsphinx), of Festival's and
    Flite's segments, where a stop spans its closure and its release."""
    segs = raw_segments(events, len(x))
    drop_linking_r(segs)
    segs = split_units(x, attach_dark_l(segs))
    move_onsets(x, segs)
    if closures_as_sil:
        segs = voiced_closures(x, segs)
    labels = np.full(len(x), SIL, dtype=np.int8)
    for s in segs:
        if s.length > 0:
            labels[s.start:s.end] = PHONE_IDS[s.labels[0]]
    for start, end in acoustics.zero_runs(x):
        after = int(labels[end]) if end < len(x) else SIL
        keep = not closures_as_sil and after in _STOP_IDS and \
            end - start <= acoustics.ms_to_samples(MAX_CLOSURE_MS)
        labels[start:end] = after if keep else SIL
    return labels


def frame_labels(labels: np.ndarray, n_frames: int, rate: int = acoustics.RATE,
                 frame_shift_ms: float = 10.0, frame_length_ms: float = 25.0) -> np.ndarray:
    """Frame i (the window starting at i·shift) gets the label at its centre; int32 ids."""
    centres_ms = frame_shift_ms * np.arange(n_frames) + frame_length_ms / 2
    idx = np.clip(np.round(centres_ms * rate / 1000.0).astype(np.int64), 0, len(labels) - 1)
    return labels[idx].astype(np.int32)
