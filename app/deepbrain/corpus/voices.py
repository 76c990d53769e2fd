"""A many-voiced corpus: espeak-ng, Festival, Flite, RHVoice and Pico voices, augmented to
sound recorded.

``make_voices_corpus(out_dir, num_utts, seed)`` writes the same layout as
:func:`deepbrain.corpus.make_corpus` (``phones.txt``, ``corpus.json``, ``wav/``, ``train/``
and ``test/`` Kaldi data dirs with per-frame TIMIT-39 ``phones.ark``/``.scp``) plus
``utt2source`` per split (source, voice, prosody, augmentation plan). Utterance i:

- **test** when ``i % 10 == 0``: an espeak-ng voice held out of training (m4, f1, klatt2,
  robert), clean: the synthetic held-out measure, comparable with the first demo model's;
- **train** otherwise: a source drawn by :data:`SHARES` among those installed (espeak-ng
  en-us variants, Festival, Flite, and Debian non-free's RHVoice and Pico:
  :mod:`.untimed`), a voice and prosody of that source, and an augmentation plan
  (:mod:`.augment`: clean with speed perturbation only in :data:`CLEAN_SHARE` of them).
  :data:`WORDS_SHARE` of them say 1-3 dictionary words instead of a sentence: the short,
  carefully spoken recordings (a word, a name) that users make.

Labels (``labels``): ``"aligner"`` labels every utterance by forced alignment of its text on
its clean audio (:mod:`deepbrain.align`: pocketsphinx's en-us model and CMU dictionary, the
labeller of the real test speech), falling back to the synthesiser's own timings where that
fails; RHVoice and Pico have no timings, so they only get text whose words are all in the
dictionary, and an utterance of theirs that still does not align is left out. ``"synth"``
takes the synthesisers' timings (espeak-ng's events, Festival's and Flite's Segment
relation; RHVoice and Pico are then not used). Either way the labels follow the ARPAbet
convention of forced aligners on real speech: a stop's closure belongs to the stop, pauses
are sil. Reproducible as the espeak corpus: every choice comes from ``(seed, i)``, espeak-ng,
Flite, RHVoice and Pico run in a fresh fork per utterance, Festival in batches whose output
does not depend on the batch, pocketsphinx dithers with a fixed seed.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy.signal import resample_poly

from ..audio import Audio, write_wav16
from ..options import MfccOptions
from ..pipeline import CancelHook, Progress, ProgressHook, check_cancel
from . import augment, espeak, festival, flite, labels, untimed
from .errors import CorpusError
from .make import (HELD_OUT_VOICES, LEAD_MS, TEST_EVERY, CorpusSummary, UttResult,
                   _prepare_out_dir, install_corpus, write_phones_ark)
from .phones import PHONES
from .text import corpus_sentences, dictionary_words
from .timeline import Timeline, from_sample_ids
from .workers import fork_map

SAMPLE_RATE = 16000
SHARES = {"espeak": 0.25, "festival": 0.20, "flite": 0.25, "rhvoice": 0.18, "pico": 0.12}
FLITE_VOICES = ("kal16", "awb", "rms", "slt")
UNTIMED = ("rhvoice", "pico")   # no timings of their own: aligner labels only
LABELS = ("aligner", "synth")
CLEAN_SHARE = 0.15
WORDS_SHARE = 0.25
RECIPE = 2   # corpus.json's "recipe": a corpus made by another recipe is never reused
FESTIVAL_BATCH = 60
BABBLE_UTTS = 24

# Licences of what made the audio (the model card lists them).
LICENCES = {
    "espeak": "espeak-ng 1.51 and its voice data: GPL-3.0-or-later (run as a program to make "
              "audio; the audio is not a derived work of the code)",
    "festival": "Festival 2.5 (Debian festival): X11-style free licence (Univ. of Edinburgh, "
                "CMU); voices kal_diphone and ked_diphone (festvox-kallpc16k, "
                "festvox-kdlpc16k): free for any use with the notice kept (CSTR/CMU); "
                "cmu_us_slt_arctic_hts (festvox-us-slt-hts): BSD-style (CMU ARCTIC, "
                "HTS working group); rab_diphone (festvox-rablpc16k): free for any use with "
                "the notice kept (CSTR)",
    "flite": "Flite 2.2 (Debian flite, libflite1) and its voices kal16, awb, rms, slt: "
             "BSD-style licence (CMU; ARCTIC voices free for any use)",
    "rhvoice": "RHVoice 1.8 (Debian non-free rhvoice, rhvoice-english; the program "
               "LGPL-2.1-or-later) and its voices alan, bdl, clb, slt: LGPL-2.1-or-later "
               "(statistical voices trained on CMU ARCTIC recordings; Debian puts them in "
               "non-free for want of their training scripts)",
    "pico": "SVOX Pico (Debian non-free libttspico-utils): Apache-2.0, its language data "
            "without sources (hence non-free); voices en-US, en-GB",
    "aligner": "pocketsphinx 5 and its en-us model and CMU dictionary (BSD-style): labels "
               "by forced alignment",
    "words": "the word list of Debian wamerican (public domain / free use: SCOWL)",
    "text": "WordNet 3.0 example sentences: WordNet licence (free to use, copy, modify and "
            "distribute with its notice)",
}


@dataclass(frozen=True)
class VoiceSpec:
    """What makes one utterance: source, voice, prosody, augmentation, where it goes."""

    utt_id: str
    split: str
    text: str
    source: str
    voice: str
    prosody: tuple[float, ...]   # espeak: rate pitch range seed; rhvoice, pico: rate % pitch
                                 # %; others: stretch f0 std
    plan: augment.Plan
    wav: Path

    @property
    def speaker(self) -> str:
        return f"{self.source}-{self.voice}"


def _uniform(rng, lo, hi) -> float:
    return float(rng.uniform(lo, hi))


def plan_corpus(num_utts: int, seed: int, sentences: Sequence[str], wav_dir: Path,
                festival_voices: Sequence[str], held_out: Sequence[str] = HELD_OUT_VOICES,
                untimed_voices: dict[str, Sequence[str]] | None = None,
                words: Sequence[str] = (), speakable: Callable[[str], bool] | None = None
                ) -> list[VoiceSpec]:
    """Every utterance's spec. ``untimed_voices``: RHVoice's and Pico's installed voices
    (aligner labels only); ``words``: the list short utterances draw from (none: every
    utterance is a sentence); ``speakable(text)``: whether the aligner knows all the words
    (an untimed source is drawn again among the others when not)."""
    pools = {"espeak": tuple(v for v in espeak.VARIANTS if v not in held_out),
             "festival": tuple(festival_voices), "flite": FLITE_VOICES,
             **{k: tuple(v) for k, v in (untimed_voices or {}).items()}}
    sources = [s for s in SHARES if pools.get(s)]
    timed = [s for s in sources if s not in UNTIMED]
    specs = []
    for i in range(num_utts):
        rng = np.random.default_rng([seed, i, 7])
        text = sentences[i]
        if i % TEST_EVERY == 0:
            split, source = "test", "espeak"
            voice = held_out[int(rng.integers(len(held_out)))]
        else:
            split = "train"
            if words and rng.random() < WORDS_SHARE:
                text = " ".join(words[int(k)] for k in
                                rng.integers(len(words), size=int(rng.integers(1, 4))))
            source = _draw(rng, sources)
            if source in UNTIMED and not (speakable and speakable(text)):
                source = _draw(rng, timed)
            pool = pools[source]
            voice = pool[int(rng.integers(len(pool)))]
        if source == "espeak":
            prosody = (float(rng.integers(espeak.RATE_RANGE[0], espeak.RATE_RANGE[1] + 1)),
                       float(rng.integers(espeak.PITCH_RANGE[0], espeak.PITCH_RANGE[1] + 1)),
                       float(rng.integers(espeak.RANGE_RANGE[0], espeak.RANGE_RANGE[1] + 1)),
                       float(rng.integers(1, 2**31)))
        elif source in UNTIMED:
            prosody = (float(rng.integers(80, 121)), float(rng.integers(80, 121)))
        else:
            female = voice == "slt" or voice.startswith("cmu_us_slt")
            base = 190.0 if female else 110.0
            prosody = (_uniform(rng, 0.85, 1.25), base * _uniform(rng, 0.8, 1.25),
                       _uniform(rng, 10, 35))
        clean = split == "test" or rng.random() < CLEAN_SHARE
        plan = augment.Plan() if split == "test" else augment.draw_plan(rng, clean=clean)
        utt_id = f"{source}-{voice}-{i:06d}"
        specs.append(VoiceSpec(utt_id, split, text, source, voice, prosody, plan,
                               wav_dir / f"{utt_id}.wav"))
    return specs


def _draw(rng: np.random.Generator, sources: Sequence[str]) -> str:
    weights = np.array([SHARES[s] for s in sources])
    return sources[int(rng.choice(len(sources), p=weights / weights.sum()))]


def _espeak_speech(spec: VoiceSpec) -> tuple[np.ndarray, Timeline]:
    rate, pitch, rng_, seed = (int(v) for v in spec.prosody)
    voice = espeak.Voice(spec.voice, rate, pitch, rng_, seed)
    syn = espeak.engine().synthesize(spec.text, voice)
    lead = int(round(np.random.default_rng(seed).integers(LEAD_MS[0], LEAD_MS[1] + 1)
                     * espeak.SAMPLE_RATE / 1000))
    x = np.concatenate([np.zeros(lead, dtype=np.int16), syn.samples])
    ids = labels.sample_labels(x, [(n, s + lead) for n, s in syn.events],
                               closures_as_sil=False)
    y = resample_poly(x.astype(np.float64), 320, 441)  # 22050 -> 16000 Hz
    return y, from_sample_ids(ids, espeak.SAMPLE_RATE, PHONES)


def _to_16k(spoken: festival.Spoken) -> np.ndarray:
    return _at_16k(spoken.samples, spoken.rate)


def _at_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return samples
    from math import gcd

    g = gcd(SAMPLE_RATE, rate)
    return resample_poly(samples, SAMPLE_RATE // g, rate // g)


class _Renderer:
    """Synthesise (or take Festival's batch output), label, augment and write one
    utterance; called in a fresh fork per utterance. Returns None for an untimed voice's
    utterance that the aligner could not label (it is left out)."""

    def __init__(self, festival_out: dict[str, tuple[np.ndarray, Timeline]],
                 babble: np.ndarray | None, align: bool):
        self.festival_out = festival_out
        self.babble = babble
        self.align = align

    def __call__(self, spec: VoiceSpec) -> UttResult | None:
        timeline: Timeline | None
        if spec.source == "espeak":
            x, timeline = _espeak_speech(spec)
        elif spec.source == "festival":
            x, timeline = self.festival_out[spec.utt_id]
        elif spec.source in UNTIMED:
            rate, pitch = (int(v) for v in spec.prosody)
            y, r = untimed.synthesize(untimed.UntimedJob(spec.utt_id, spec.source, spec.voice,
                                                         spec.text, rate, pitch))
            x, timeline = _at_16k(y, r), None
        else:
            stretch, f0, std = spec.prosody
            s = flite.engine().synthesize(flite.FliteJob(spec.utt_id, spec.voice, spec.text,
                                                         stretch, f0, std))
            x, timeline = _to_16k(s), s.timeline
        labelled_by = "synth"
        if self.align:
            aligned = aligned_timeline(x, spec.text, spec.utt_id)
            if aligned is not None:
                timeline, labelled_by = aligned, "aligner"
        if timeline is None:
            return None
        y, timeline = augment.apply(x, timeline, spec.plan, self.babble)
        write_wav16(Audio(y.astype(np.float32), SAMPLE_RATE, spec.utt_id, as_on_disk=False),
                    spec.wav)
        n_frames = MfccOptions(sample_frequency=SAMPLE_RATE).num_frames(y.size)
        return UttResult(spec.utt_id, y.size, timeline.frame_ids(n_frames), labelled_by)


def aligned_timeline(x: np.ndarray, text: str, utt_id: str) -> Timeline | None:
    """The labels of ``x`` (16 kHz, int16 scale) by forced alignment of ``text``, or None
    when it does not align. A segment of frames [a, b) ends 7.5 ms after frame b's start,
    between frame b-1's centre and frame b's, so :meth:`Timeline.frame_ids` gives back
    exactly the aligner's frames; the last label runs to the end of the audio."""
    from .. import align

    try:
        segments = align.align_audio(Audio(x.astype(np.float32), SAMPLE_RATE, utt_id,
                                           as_on_disk=False), text, utt_id)
    except align.AlignError:
        return None
    ends = np.array([s.end * align.FRAME_SHIFT + 0.0075 for s in segments])
    ends[-1] = max(ends[-1], x.size / SAMPLE_RATE)
    return Timeline(tuple(s.phone for s in segments), ends)


def _festival_all(specs: Sequence[VoiceSpec], work: Path, workers: int,
                  cancel: CancelHook | None) -> dict[str, tuple[np.ndarray, Timeline]]:
    """Every Festival utterance, in batches of one voice, ``workers`` processes at a time."""
    jobs = [festival.FestivalJob(s.utt_id, s.voice, s.text, *s.prosody)
            for s in specs if s.source == "festival"]
    by_voice: dict[str, list] = {}
    for j in jobs:
        by_voice.setdefault(j.voice, []).append(j)
    batches = [(v, js[k:k + FESTIVAL_BATCH]) for v, js in sorted(by_voice.items())
               for k in range(0, len(js), FESTIVAL_BATCH)]
    out: dict[str, tuple[np.ndarray, Timeline]] = {}

    def run(b):
        check_cancel(cancel)
        voice, js = b
        spoken = festival.synthesize(js, work / f"{voice}-{js[0].utt_id}")
        return {u: (_to_16k(s), s.timeline) for u, s in spoken.items()}

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(run, batches):
            out.update(part)
    return out


def _babble(sentences: Sequence[str]) -> np.ndarray | None:
    """Other synthetic talkers for babble noise: Flite voices on sentences no utterance
    speaks, unit RMS each, concatenated (made in the parent, before any fork).

    Flite's statistical voices draw excitation noise from libc's ``rand()``, so libc's
    generator is reset to its start-up state first (``srand(1)``, as at process start):
    the babble, and the state every fork inherits after it, are then the same on every
    call, not only in a fresh process."""
    if not flite.available():
        return None
    ctypes.CDLL(None).srand(ctypes.c_uint(1))
    parts = []
    for k, text in enumerate(sentences):
        voice = FLITE_VOICES[k % len(FLITE_VOICES)]
        s = flite.engine().synthesize(flite.FliteJob(f"babble{k}", voice, text))
        x = _to_16k(s)
        parts.append(x / max(float(np.sqrt(np.mean(x ** 2))), 1e-9))
    return np.concatenate(parts)


def _versions() -> dict[str, str]:
    out = {"espeak_ng": espeak.engine().version}
    for prog, args in (("festival", ["--version"]), ("ffmpeg", ["-version"]),
                       ("flite", ["--version"])):
        if shutil.which(prog):
            r = subprocess.run([prog, *args], capture_output=True, text=True,
                               stdin=subprocess.DEVNULL)
            out[prog] = (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr)\
                else ""
    return out


def why_unavailable(labels: str = "aligner") -> str | None:
    """Why this corpus cannot be made here, or None when it can (RHVoice and Pico are
    used when installed, and never required)."""
    from . import why_unavailable as espeak_unavailable

    if labels not in LABELS:
        return f"unknown labels {labels!r}; choose from {', '.join(LABELS)}"
    if labels == "aligner":
        from ..align import why_unavailable as aligner_unavailable

        reason = aligner_unavailable()
        if reason:
            return f"the aligner that labels the corpus is missing: {reason}"
    reason = espeak_unavailable()
    if reason:
        return reason
    if not flite.available():
        return f"libflite is not usable: {flite.INSTALL}"
    if not augment.codec_available():
        return "ffmpeg is not installed: apt-get install ffmpeg"
    if set(festival.available_voices()) != set(festival.VOICE_DIRS):
        return f"Festival or one of its voices is missing: {festival.INSTALL}"
    return None


def make_voices_corpus(out_dir: str | os.PathLike, num_utts: int, seed: int = 0,
                       workers: int = 2, progress: ProgressHook | None = None,
                       cancel: CancelHook | None = None, force: bool = False,
                       labels: str = "aligner") -> CorpusSummary:
    """Make ``num_utts`` utterances into ``out_dir`` (see the module doc); fewer when an
    untimed voice's utterance does not align (``corpus.json`` counts them)."""
    started = time.monotonic()
    out_dir = Path(out_dir).absolute()
    if num_utts < 2:
        raise CorpusError(f"num_utts must be at least 2 (one test, one train), got {num_utts}")
    reason = why_unavailable(labels)
    if reason:
        raise CorpusError(reason)
    eng = espeak.engine()  # initialised in the parent, before any fork
    espeak.check_variants(espeak.VARIANTS, eng.data_dir)
    voices_f = festival.available_voices()
    sentences = corpus_sentences(num_utts + BABBLE_UTTS, seed)
    use_aligner = labels == "aligner"
    speakable = None
    if use_aligner:
        from ..align import missing_words, words_of

        missing_words([])  # the decoder is made here, in the parent: every fork shares it

        def speakable(text: str) -> bool:
            return not missing_words(words_of(text))
    untimed_v = {s: untimed.voices(s) for s in UNTIMED} if use_aligner else {}
    words = [w for w in dictionary_words() if speakable is None or speakable(w)]
    tmp = _prepare_out_dir(out_dir, force)
    try:
        specs = plan_corpus(num_utts, seed, sentences.items[:num_utts], tmp / "wav", voices_f,
                            untimed_voices=untimed_v, words=words, speakable=speakable)
        fest = _festival_all(specs, tmp / "festival", workers, cancel)
        shutil.rmtree(tmp / "festival", ignore_errors=True)
        babble = _babble(sentences.items[num_utts:])
        hook = None if progress is None else \
            (lambda done, total, i: progress(Progress("synth", done, total, specs[i].utt_id)))
        made = fork_map(_Renderer(fest, babble, use_aligner), specs, workers, hook, cancel)
        left_out = [s.utt_id for s, r in zip(specs, made) if r is None]
        kept = [(s, r) for s, r in zip(specs, made) if r is not None]
        if not kept:
            raise CorpusError(f"none of the {num_utts} utterances could be labelled; check "
                              f"the aligner with deepbrain align")
        specs, results = (list(x) for x in zip(*kept))
        counts = _write_splits(tmp, out_dir, specs, results)
        phone_frames = np.zeros(len(PHONES), dtype=np.int64)
        for r in results:
            phone_frames += np.bincount(r.phones, minlength=len(PHONES))
        summary = CorpusSummary(out_dir, counts,
                                sum(r.num_samples for r in results) / SAMPLE_RATE,
                                time.monotonic() - started,
                                {p: int(n) for p, n in zip(PHONES, phone_frames)},
                                sentences.source, eng.version)
        _write_info(tmp, summary, seed, specs, results, voices_f,
                    {"labels": labels, "untimed_voices": untimed_v, "requested": num_utts,
                     "left_out": left_out, "words": len(words)})
        install_corpus(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def _write_splits(tmp: Path, out_dir: Path, specs, results) -> dict[str, int]:
    from .phones import write_phones_txt

    write_phones_txt(tmp / "phones.txt")
    counts = {}
    for split in ("train", "test"):
        pairs = sorted(((s, r) for s, r in zip(specs, results) if s.split == split),
                       key=lambda p: p[0].utt_id)
        if not pairs:
            continue
        d = tmp / split
        d.mkdir()
        files = {
            "wav.scp": [f"{s.utt_id} {out_dir / 'wav' / s.wav.name}" for s, _ in pairs],
            "utt2spk": [f"{s.utt_id} {s.speaker}" for s, _ in pairs],
            "text": [f"{s.utt_id} {s.text}" for s, _ in pairs],
            "utt2num_frames": [f"{r.utt_id} {len(r.phones)}" for _, r in pairs],
            "utt2source": [f"{s.utt_id} {s.source} {s.voice} "
                           f"{' '.join(f'{v:g}' for v in s.prosody)} {s.plan.describe()} "
                           f"labels:{r.labelled_by}" for s, r in pairs],
        }
        spk: dict[str, list[str]] = {}
        for s, _ in pairs:
            spk.setdefault(s.speaker, []).append(s.utt_id)
        files["spk2utt"] = [f"{k} {' '.join(u)}" for k, u in sorted(spk.items())]
        for name, lines in files.items():
            (d / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        write_phones_ark(d / "phones.ark", d / "phones.scp", out_dir / split / "phones.ark",
                         [r for _, r in pairs])
        counts[split] = len(pairs)
    return counts


def composition(specs: Sequence[VoiceSpec], results: Sequence[UttResult]) -> dict:
    """Per split, source and voice: utterances and seconds; augmentation step counts."""
    out: dict = {}
    for s, r in zip(specs, results):
        d = out.setdefault(s.split, {}).setdefault(s.source, {}).setdefault(
            s.voice, {"utterances": 0, "seconds": 0.0})
        d["utterances"] += 1
        d["seconds"] = round(d["seconds"] + r.num_samples / SAMPLE_RATE, 2)
    steps: dict[str, int] = {}
    for s in specs:
        if s.split != "train":
            continue
        for token in s.plan.describe().split(","):
            key = f"speed {s.plan.speed:g}" if token.startswith("sp:") else token.split(":")[0]
            steps[key] = steps.get(key, 0) + 1
    out["augmentation"] = dict(sorted(steps.items()))
    return out


def _write_info(tmp: Path, summary: CorpusSummary, seed: int, specs, results,
                festival_voices, extra: dict) -> None:
    labelled: dict[str, int] = {}
    for r in results:
        labelled[r.labelled_by] = labelled.get(r.labelled_by, 0) + 1
    info = {"kind": "voices", "recipe": RECIPE, "seed": seed,
            "utterances": summary.utterances, **extra, "labelled_by": labelled,
            "words_share": WORDS_SHARE,
            "audio_seconds": round(summary.audio_seconds, 3),
            "held_out_voices": list(HELD_OUT_VOICES), "variants": list(espeak.VARIANTS),
            "festival_voices": list(festival_voices), "flite_voices": list(FLITE_VOICES),
            "shares": SHARES, "clean_share": CLEAN_SHARE,
            "espeak_ng_version": summary.espeak_version,
            "espeak_ng_library": espeak.engine().library_file,
            "versions": _versions(), "licences": LICENCES,
            "text_source": summary.text_source, "sample_rate": SAMPLE_RATE,
            "frame_shift_ms": 10, "frame_length_ms": 25,
            "composition": composition(specs, results), "phone_frames": summary.phone_frames}
    (tmp / "corpus.json").write_text(json.dumps(info, indent=1) + "\n")
