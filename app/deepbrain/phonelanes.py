"""What is said when, and what the model hears: the phone lanes under the waveform.

Three sources, each giving :class:`~deepbrain.segments.PhoneSegment` s in frames:

- a file the user has (``--phones FILE``): a CTM (``ali-to-phones --ctm-output``) or per-frame
  phone ids as an int-vector ark or scp (``ali-to-phones --per-frame=true``), read against
  the ``phones.txt`` beside the file, else the model's;
- a transcript (``--text``), aligned by :mod:`deepbrain.align` when it is installed;
- the model itself: its top output per frame, when its outputs are the phones of its
  ``phones.txt`` (as the demo model's are).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import DeepbrainError, FormatError
from .maps.labels import LENGTH_TOLERANCE, fold, read_symbol_table
from .segments import PhoneSegment, read_ctm, segments_from_frames

MAX_TEXT = 2000   # characters of a transcript


@dataclass(frozen=True, eq=False)
class PhoneLane:
    """One lane: its segments in time order, and where they came from (shown in the
    window)."""

    segments: tuple[PhoneSegment, ...]
    source: str


def lane_from_file(path: str | os.PathLike, utt_id: str, num_frames: int,
                   frame_shift: float, model_phones: Path | None = None) -> PhoneLane:
    """Utterance ``utt_id``'s phones from a CTM, ark or scp (told apart by the ending;
    ``.ctm`` or anything that reads as one is a CTM)."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such phones file (--phones takes a CTM, or per-frame "
                          f"phone ids as an ark or scp)")
    if path.suffix in (".ark", ".scp") or (path.suffix != ".ctm" and not _looks_like_ctm(path)):
        segments = _segments_from_ids(path, utt_id, model_phones)
    else:
        table = read_ctm(path, frame_shift)
        if utt_id not in table:
            raise FormatError(_missing(path, utt_id, list(table)))
        segments = table[utt_id]
        _check_overlaps(path, utt_id, segments)
    _check_length(path, utt_id, segments, num_frames)
    return PhoneLane(tuple(s for s in segments if s.start < num_frames), path.name)


def _looks_like_ctm(path: Path) -> bool:
    """A text file whose first line is ``utt channel start duration phone [conf]``."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
        first = next((ln for ln in head.decode("utf-8").splitlines() if ln.strip()), "")
    except (OSError, UnicodeDecodeError):
        return False
    parts = first.split()
    try:
        return len(parts) in (5, 6) and float(parts[2]) >= 0 and float(parts[3]) >= 0 \
            and not parts[4].lstrip("-").isdigit()
    except ValueError:
        return False


def _segments_from_ids(path: Path, utt_id: str, model_phones: Path | None
                       ) -> list[PhoneSegment]:
    from .maps.labels import read_labels
    from .savedacts import load_entry, scp_entries

    if path.suffix == ".scp":
        entries = scp_entries(path)       # commands refused before kaldiio sees the file
        if utt_id not in entries:
            raise FormatError(_missing(path, utt_id, list(entries)))
        ids = load_entry(path, utt_id, entries[utt_id])
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise FormatError(f"{path}: entry {utt_id} is not an integer vector; expected "
                              f"per-frame phone ids (ali-to-phones --per-frame=true)")
    else:
        labels = read_labels(path)
        if utt_id not in labels:
            raise FormatError(_missing(path, utt_id, list(labels)))
        ids = labels[utt_id]
    table = path.parent / "phones.txt"
    if not table.is_file():
        table = model_phones
    if table is None or not table.is_file():
        raise FormatError(f"{path}: phone ids need a phones.txt, beside the file or in the "
                          f"model dir; copy the lang dir's phones.txt next to {path.name}")
    names = read_symbols(table)
    try:
        return segments_from_frames(np.asarray(ids, np.int64), names)
    except FormatError as e:
        raise FormatError(f"{path}: utterance {utt_id}: {e} of {table}; the ids and "
                          f"phones.txt do not belong together") from None


def read_symbols(path: Path) -> tuple[str, ...]:
    """A Kaldi symbol table as names by id (word-position suffixes folded); an id the table
    lacks is named ``#id``."""
    table = read_symbol_table(path)
    return tuple(fold(table[i]) if i in table else f"#{i}" for i in range(max(table) + 1))


def _missing(path: Path, utt_id: str, have: Sequence[str]) -> str:
    some = ", ".join(h[:40] for h in have[:3])
    return (f"{path}: has no utterance {utt_id!r} (the wav's name without .wav); it holds "
            f"{len(have)}: {some}{', ...' if len(have) > 3 else ''}")


def _check_overlaps(path: Path, utt_id: str, segments: Sequence[PhoneSegment]) -> None:
    for a, b in zip(segments, segments[1:]):
        if b.start < a.end - 1:   # CTM times rounded to frames may touch by one
            raise FormatError(f"{path}: utterance {utt_id}: {a.phone} ends at frame {a.end} "
                              f"but {b.phone} starts at {b.start}: segments overlap")


def _check_length(path: Path, utt_id: str, segments: Sequence[PhoneSegment],
                  num_frames: int) -> None:
    if not segments:
        raise FormatError(f"{path}: utterance {utt_id} has no phones")
    end = max(s.end for s in segments)
    if end > num_frames + LENGTH_TOLERANCE:
        raise FormatError(f"{path}: utterance {utt_id} has phones up to frame {end}, but the "
                          f"wav has {num_frames} frames: the phones of another wav, or "
                          f"another frame shift?")


def outputs_are_phones(model) -> bool:
    """Whether ``model``'s outputs are the phones of its phones.txt (then the window shows
    what it hears; tied-state posteriors are thousands of columns it never needs)."""
    return model.phones is not None and model.nnet.output_dim == len(model.phones)


def lane_from_output(output: np.ndarray, phones: Sequence[str] | None) -> PhoneLane | None:
    """The model's top phone per frame, when its outputs are ``phones`` (one per symbol of
    its phones.txt); None when they are not (e.g. tied HMM states)."""
    if output is None or phones is None or output.ndim != 2 or output.shape[1] != len(phones):
        return None
    ids = np.argmax(output, axis=1)
    return PhoneLane(tuple(segments_from_frames(ids, [fold(p) for p in phones])),
                     "model output")


def aligner_unavailable() -> str | None:
    """Why transcripts cannot be aligned here, or None when they can."""
    try:  # through sys.modules (not the package's attribute), so a stand-in can be put there
        align = importlib.import_module("deepbrain.align")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("deepbrain"):
            return ("aligning a transcript needs the aligner (deepbrain.align), which this "
                    "installation lacks: pip install 'deepbrain[align]'")
        return f"the aligner needs {e.name}: pip install 'deepbrain[align]'"
    reason = align.why_unavailable()
    return f"the aligner cannot run: {reason}" if reason else None


def lane_from_text(audio, text: str, utt_id: str, num_frames: int) -> PhoneLane:
    """``text`` aligned to ``audio`` (an :class:`~deepbrain.audio.Audio` at the model's
    rate) by :func:`deepbrain.align.align_audio`."""
    text = " ".join(str(text).split())
    if not text:
        raise DeepbrainError("--text: the transcript is empty")
    if len(text) > MAX_TEXT:
        raise DeepbrainError(f"--text: {len(text)} characters; a transcript of one utterance "
                             f"is at most {MAX_TEXT}")
    reason = aligner_unavailable()
    if reason:
        raise DeepbrainError(f"--text: {reason}")
    align_audio = importlib.import_module("deepbrain.align").align_audio
    segments = list(align_audio(audio, text, utt_id=utt_id))
    if not segments:
        raise DeepbrainError(f"--text: the aligner found no phones for {text[:60]!r}")
    shown = text if len(text) <= 60 else text[:60] + "\u2026"
    return PhoneLane(tuple(s for s in segments if s.start < num_frames),
                     f"aligned: \u201c{shown}\u201d")
