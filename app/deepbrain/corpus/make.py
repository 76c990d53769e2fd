"""Make a phone-labelled English corpus with espeak-ng, as Kaldi data dirs.

``OUT/`` holds ``phones.txt`` (ids 0..38, sil = 0), ``corpus.json`` (seed, espeak-ng
version, sentence source, counts), ``wav/<utt_id>.wav`` (16 kHz 16-bit mono) and one data dir
per split, ``train/`` and ``test/`` (every 10th utterance, spoken only by the held-out
voices, which never speak in train), each with ``wav.scp`` (absolute paths),
``utt2spk``, ``spk2utt``, ``text``, ``utt2num_frames``, ``utt2synth`` (variant rate pitch
range seed lead_ms: what made each wav) and ``phones.ark`` + ``phones.scp``: per-frame phone
ids as Kaldi int32 vectors, one label per MFCC frame (25 ms / 10 ms, snip-edges).

Reproducible: utterance i's sentence is the i-th of the seed's shuffle, its voice comes from
an RNG seeded with (seed, i), and it is synthesised in its own fork with ``srand`` seeded the same way, so the same seed gives
byte-identical wavs and labels for any worker count, and the first k utterances of an n
corpus are those of a k corpus (same libespeak-ng build assumed; ``corpus.json`` records it).
The forks copy the calling process; they only synthesise, label and write, then ``_exit``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy.signal import resample_poly  # imported here, before the forks, not in each child

from ..audio import Audio, write_wav16
from ..errors import OutputExistsError
from ..options import MfccOptions
from ..pipeline import CancelHook, Progress, ProgressHook
from . import espeak, labels
from .errors import CorpusError
from .phones import PHONES, write_phones_txt
from .text import corpus_sentences
from .workers import fork_map

SAMPLE_RATE = 16000
HELD_OUT_VOICES = ("m4", "f1", "klatt2", "robert")
TEST_EVERY = 10  # utterances 0, 10, 20, ... are the test split (10 %)
LEAD_MS = (50, 200)  # leading silence, like TIMIT's h#; espeak's end pause gives the tail


@dataclass(frozen=True)
class UttSpec:
    """Everything that determines one utterance."""

    utt_id: str
    split: str
    text: str
    voice: espeak.Voice
    lead_ms: int
    wav: Path


@dataclass(frozen=True, eq=False)
class UttResult:
    utt_id: str
    num_samples: int
    phones: np.ndarray  # int32 phone id per frame
    labelled_by: str = "synth"  # or "aligner" (forced alignment of the text)


@dataclass(frozen=True)
class CorpusSummary:
    """What :func:`make_corpus` made; ``phone_frames`` counts frames per phone symbol."""

    out_dir: Path
    utterances: dict[str, int]
    audio_seconds: float
    seconds_taken: float
    phone_frames: dict[str, int] = field(default_factory=dict)
    text_source: str = ""
    espeak_version: str = ""


def plan(num_utts: int, seed: int, held_out_voices: Sequence[str], sentences: Sequence[str],
         wav_dir: Path) -> list[UttSpec]:
    """Utterance i: test if i % TEST_EVERY == 0 (and voices are held out), its variant drawn
    from the held-out voices (test) or the others (train), prosody and lead from RNG(seed, i)."""
    held = tuple(held_out_voices)
    train_voices = tuple(v for v in espeak.VARIANTS if v not in held)
    specs = []
    for i in range(num_utts):
        rng = np.random.default_rng([seed, i])
        split = "test" if held and i % TEST_EVERY == 0 else "train"
        voice = _draw_voice(rng, held if split == "test" else train_voices)
        lead = _uniform(rng, LEAD_MS)
        utt_id = f"{voice.variant}-{i:06d}"
        wav = wav_dir / f"{utt_id}.wav"
        specs.append(UttSpec(utt_id, split, sentences[i], voice, lead, wav))
    return specs


def _uniform(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _draw_voice(rng: np.random.Generator, variants: Sequence[str]) -> espeak.Voice:
    """A variant and prosody (rate 130–240 wpm, pitch 25–75, range 20–80); srand's seed."""
    return espeak.Voice(variant=variants[int(rng.integers(len(variants)))],
                        rate=_uniform(rng, espeak.RATE_RANGE),
                        pitch=_uniform(rng, espeak.PITCH_RANGE),
                        range=_uniform(rng, espeak.RANGE_RANGE),
                        seed=int(rng.integers(1, 2**31)))


def render(spec: UttSpec) -> UttResult:
    """Synthesise, label and write one utterance (runs in a fresh fork: see workers)."""
    syn = espeak.engine().synthesize(spec.text, spec.voice)
    lead = int(round(spec.lead_ms * espeak.SAMPLE_RATE / 1000))
    x = np.concatenate([np.zeros(lead, dtype=np.int16), syn.samples])
    events = [(name, sample + lead) for name, sample in syn.events]
    sample_labels = labels.sample_labels(x, events)
    y = resample_poly(x.astype(np.float64), 320, 441)  # 22050 -> 16000 Hz
    y = np.clip(np.rint(y), -32768, 32767).astype(np.float32)
    write_wav16(Audio(y, SAMPLE_RATE, spec.utt_id, as_on_disk=False), spec.wav)
    n_frames = MfccOptions(sample_frequency=SAMPLE_RATE).num_frames(len(y))
    phones = labels.frame_labels(sample_labels, n_frames)
    return UttResult(spec.utt_id, len(y), phones)


def int_vector_record(key: str, values: np.ndarray) -> tuple[bytes, int]:
    """One binary Kaldi ark record of an int32 vector, as ``copy-int-vector`` writes it
    (BasicVectorHolder: ``\\0B``, then the size as a basic type ``\\4`` + int32, then each
    element as ``\\4`` + int32); and the offset of the ``\\0B`` within the record."""
    rec = np.empty(len(values), dtype=[("size", "i1"), ("value", "<i4")])
    rec["size"], rec["value"] = 4, values
    head = key.encode() + b" "
    return head + b"\0B\4" + struct.pack("<i", len(values)) + rec.tobytes(), len(head)


def write_phones_ark(ark: Path, scp: Path, final_ark: Path, results: Sequence[UttResult]) -> None:
    """``phones.ark`` and its scp, whose offsets point into ``final_ark`` (where it will be)."""
    lines = []
    with open(ark, "wb") as f:
        for r in results:
            data, offset = int_vector_record(r.utt_id, r.phones)
            lines.append(f"{r.utt_id} {final_ark}:{f.tell() + offset}\n")
            f.write(data)
    scp.write_text("".join(lines))


def write_data_dir(d: Path, final: Path, specs: Sequence[UttSpec],
                   results: Sequence[UttResult], final_wav_dir: Path) -> None:
    """A Kaldi data dir for one split, every file sorted by utterance id (C locale)."""
    d.mkdir()
    pairs = sorted(zip(specs, results), key=lambda p: p[0].utt_id)
    specs, results = [p[0] for p in pairs], [p[1] for p in pairs]
    files = {
        "wav.scp": [f"{s.utt_id} {final_wav_dir / s.wav.name}" for s in specs],
        "utt2spk": [f"{s.utt_id} {s.voice.variant}" for s in specs],
        "text": [f"{s.utt_id} {s.text}" for s in specs],
        "utt2num_frames": [f"{r.utt_id} {len(r.phones)}" for r in results],
        "utt2synth": [f"{s.utt_id} {s.voice.variant} {s.voice.rate} {s.voice.pitch} "
                      f"{s.voice.range} {s.voice.seed} {s.lead_ms}" for s in specs],
    }
    spk: dict[str, list[str]] = {}
    for s in specs:
        spk.setdefault(s.voice.variant, []).append(s.utt_id)
    files["spk2utt"] = [f"{k} {' '.join(u)}" for k, u in sorted(spk.items())]
    for name, lines in files.items():
        (d / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    write_phones_ark(d / "phones.ark", d / "phones.scp", final / "phones.ark", results)


def _prepare_out_dir(out_dir: Path, force: bool) -> Path:
    """Check ``out_dir`` may be written; return a fresh hidden sibling to build in."""
    _recover_old_corpus(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        if not (force and (out_dir / "corpus.json").is_file()):
            raise OutputExistsError(f"{out_dir}: exists and is not empty; choose another "
                                    f"directory (or pass --force to replace an earlier corpus)")
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "wav").mkdir(parents=True)
    return tmp


def _check_args(num_utts: int, held_out_voices: Sequence[str], workers: int) -> None:
    if num_utts < 2:
        raise CorpusError(f"num_utts must be at least 2 (one test, one train), got {num_utts}")
    if workers < 1:
        raise CorpusError(f"workers must be at least 1, got {workers}")
    unknown = sorted(set(held_out_voices) - set(espeak.VARIANTS))
    if unknown:
        raise CorpusError(f"held-out voice(s) {', '.join(unknown)} are not corpus variants; "
                          f"choose from deepbrain.corpus.espeak.VARIANTS")
    if set(held_out_voices) >= set(espeak.VARIANTS):
        raise CorpusError("every variant is held out, so train would be empty; hold out fewer")


def make_corpus(out_dir: str | os.PathLike, num_utts: int, seed: int = 0,
                held_out_voices: Sequence[str] = HELD_OUT_VOICES, workers: int = 2,
                progress: ProgressHook | None = None, cancel: CancelHook | None = None,
                text_source: str = "auto", force: bool = False) -> CorpusSummary:
    """Make ``num_utts`` utterances into ``out_dir`` (see the module doc for the layout).

    Built in a hidden sibling folder and moved into place at the end, so a failure or a
    cancel leaves nothing half-written. ``progress`` gets a :class:`Progress` ("synth") per
    utterance; ``cancel()`` returning True stops the work with :class:`Cancelled`.
    """
    started = time.monotonic()
    out_dir = Path(out_dir).absolute()
    _check_args(num_utts, held_out_voices, workers)
    eng = espeak.engine()  # initialised here, in the parent, before any fork
    espeak.check_variants(espeak.VARIANTS, eng.data_dir)
    sentences = corpus_sentences(num_utts, seed, text_source)
    tmp = _prepare_out_dir(out_dir, force)
    try:
        specs = plan(num_utts, seed, held_out_voices, sentences.items, tmp / "wav")
        results = fork_map(render, specs, workers, _progress_hook(progress, specs), cancel)
        splits = _write_splits(tmp, out_dir, specs, results)
        summary = CorpusSummary(out_dir, splits, sum(r.num_samples for r in results) / SAMPLE_RATE,
                                time.monotonic() - started, _phone_frames(results),
                                sentences.source, eng.version)
        _write_info(tmp, summary, seed, held_out_voices)
        install_corpus(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def _progress_hook(progress: ProgressHook | None,
                   specs: Sequence[UttSpec]) -> Callable[[int, int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total, i: progress(Progress("synth", done, total, specs[i].utt_id))


def _write_splits(tmp: Path, out_dir: Path, specs, results) -> dict[str, int]:
    write_phones_txt(tmp / "phones.txt")
    counts = {}
    for split in ("train", "test"):
        chosen = [(s, r) for s, r in zip(specs, results) if s.split == split]
        if chosen:
            write_data_dir(tmp / split, out_dir / split, [c[0] for c in chosen],
                           [c[1] for c in chosen], out_dir / "wav")
            counts[split] = len(chosen)
    return counts


def _phone_frames(results: Sequence[UttResult]) -> dict[str, int]:
    total = np.zeros(len(PHONES), dtype=np.int64)
    for r in results:
        total += np.bincount(r.phones, minlength=len(PHONES))
    return {p: int(n) for p, n in zip(PHONES, total)}


def _write_info(tmp: Path, summary: CorpusSummary, seed: int, held_out: Sequence[str]) -> None:
    info = {"seed": seed, "utterances": summary.utterances,
            "audio_seconds": round(summary.audio_seconds, 3),
            "held_out_voices": list(held_out), "variants": list(espeak.VARIANTS),
            "espeak_ng_version": summary.espeak_version,
            "espeak_ng_library": espeak.engine().library_file, "text_source": summary.text_source,
            "sample_rate": SAMPLE_RATE, "frame_shift_ms": 10, "frame_length_ms": 25,
            "phone_frames": summary.phone_frames}
    (tmp / "corpus.json").write_text(json.dumps(info, indent=1) + "\n")


def install_corpus(tmp: Path, out_dir: Path) -> None:
    """The finished corpus in ``tmp`` (beside ``out_dir``) put in place of any old one.

    The old corpus is moved aside (``.NAME.old-PID``), the new one moved in, and only then
    the old one removed, with Ctrl-C, SIGTERM and SIGHUP held until both moves are done: at
    every instant a whole corpus is at ``out_dir`` or beside it. A run killed outright
    between the moves leaves the old one aside; the next run puts it back
    (:func:`_recover_old_corpus`)."""
    from ..maps.jobs import signals_held

    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    with signals_held():
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _recover_old_corpus(out_dir: Path) -> None:
    """What a run killed inside :func:`install_corpus` left: with no corpus at ``out_dir``,
    the old one moved back; with one there, the leftover removed."""
    if not out_dir.parent.is_dir():
        return
    prefix = f".{out_dir.name}.old-"
    for old in sorted(p for p in out_dir.parent.iterdir() if p.name.startswith(prefix)):
        if not old.is_dir() or old.is_symlink():
            continue
        if not out_dir.exists() and (old / "corpus.json").is_file():
            os.replace(old, out_dir)
        else:
            shutil.rmtree(old, ignore_errors=True)
