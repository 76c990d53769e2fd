"""Festival voices with their phone timings: audio plus the utterance's Segment relation.

Festival (Debian ``festival``) runs as a program, never linked: one ``festival --batch``
process per batch of utterances reads a Scheme script that this module writes, synthesises
each text with the asked voice and saves the wave (RIFF) and the segments (``utt.save.segs``:
``end 100 name`` per line, the end time of each segment in seconds). Only text that this
module escapes for a Scheme string literal (backslash and double quote) and paths it makes
go into the script; the process gets an argument list, no shell.

Voices (Debian packages; see :data:`VOICES` for licences): ``kal_diphone``
(``festvox-kallpc16k``) and ``ked_diphone`` (``festvox-kdlpc16k``), diphone voices cut from
recordings of two American men, 16 kHz; ``cmu_us_slt_arctic_hts`` (``festvox-us-slt-hts``),
a statistical (HTS) voice trained on an American woman's ARCTIC recordings, 32 kHz;
``rab_diphone`` (``festvox-rablpc16k``), a diphone voice cut from a British man's
recordings, whose MRPA phones are mapped by :data:`.phones.MRPA_TO_ARPABET`.
Prosody: ``Duration_Stretch`` for the rate, and for the diphone voices the target F0 mean
and spread of their linear-regression intonation.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..audio import read_wav
from ..errors import DeepbrainError
from .errors import CorpusError
from .phones import MRPA_TO_ARPABET
from .timeline import Timeline, from_arpabet

PROGRAM = "festival"
INSTALL = ("apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts "
           "festvox-rablpc16k")
VOICE_DIRS = {"kal_diphone": "english/kal_diphone", "ked_diphone": "english/ked_diphone",
              "cmu_us_slt_arctic_hts": "us/cmu_us_slt_arctic_hts",
              "rab_diphone": "english/rab_diphone"}
DIPHONE = ("kal_diphone", "ked_diphone", "rab_diphone")
MRPA_VOICES = frozenset({"rab_diphone"})
VOICES_ROOT = Path("/usr/share/festival/voices")
TIMEOUT_S = 600


@dataclass(frozen=True)
class FestivalJob:
    """One utterance: ``stretch`` > 1 speaks slower; ``f0_mean``/``f0_std`` (Hz) set the
    diphone voices' intonation targets (ignored by the HTS voice)."""

    utt_id: str
    voice: str
    text: str
    stretch: float = 1.0
    f0_mean: float = 0.0
    f0_std: float = 0.0


@dataclass(frozen=True, eq=False)
class Spoken:
    """Samples (int16 scale, float64), their rate and the label timeline."""

    samples: np.ndarray
    rate: int
    timeline: Timeline


def available_voices() -> tuple[str, ...]:
    """The Festival voices installed here (empty without the festival program)."""
    if shutil.which(PROGRAM) is None:
        return ()
    return tuple(v for v, d in VOICE_DIRS.items() if (VOICES_ROOT / d).is_dir())


def scheme_string(text: str) -> str:
    """``text`` as a Scheme string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _script(jobs: Sequence[FestivalJob], work: Path) -> str:
    lines = []
    for j in jobs:
        if j.voice not in VOICE_DIRS:
            raise CorpusError(f"unknown Festival voice {j.voice!r}; choose from "
                              f"{', '.join(VOICE_DIRS)}")
        lines.append(f"(voice_{j.voice})")
        lines.append(f"(Parameter.set 'Duration_Stretch {j.stretch:.4f})")
        if j.voice in DIPHONE and j.f0_mean > 0:
            lines.append(f"(set! int_lr_params '((target_f0_mean {j.f0_mean:.1f}) "
                         f"(target_f0_std {j.f0_std:.1f}) (model_f0_mean 170) "
                         f"(model_f0_std 34)))")
        wav, segs = work / f"{j.utt_id}.wav", work / f"{j.utt_id}.segs"
        lines.append(f"(set! u (utt.synth (Utterance Text {scheme_string(j.text)})))")
        lines.append(f"(utt.save.wave u {scheme_string(str(wav))} 'riff)")
        lines.append(f"(utt.save.segs u {scheme_string(str(segs))})")
    return "\n".join(lines) + "\n"


def read_segs(path: Path) -> tuple[list[str], list[float]]:
    """``utt.save.segs`` output: names and end times (seconds)."""
    names, ends = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] != "#":
            ends.append(float(parts[0]))
            names.append(parts[2])
    return names, ends


def synthesize(jobs: Sequence[FestivalJob], work: Path) -> dict[str, Spoken]:
    """Speak every job in one ``festival --batch`` process; utt_id -> what it said."""
    if shutil.which(PROGRAM) is None:
        raise CorpusError(f"the festival program is not installed; {INSTALL}")
    work.mkdir(parents=True, exist_ok=True)
    script = work / "synth.scm"
    script.write_text(_script(jobs, work), encoding="utf-8")
    try:
        r = subprocess.run([PROGRAM, "--batch", str(script)], capture_output=True, text=True,
                           timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CorpusError(f"festival took more than {TIMEOUT_S} s on {script}") from None
    out = {}
    for j in jobs:
        wav, segs = work / f"{j.utt_id}.wav", work / f"{j.utt_id}.segs"
        if not (wav.is_file() and segs.is_file()):
            tail = " | ".join(r.stderr.strip().splitlines()[-3:])
            raise CorpusError(f"festival made no audio for {j.utt_id} (voice {j.voice}, exit "
                              f"{r.returncode}: {tail}); check the voice with {INSTALL}")
        try:
            audio = read_wav(wav)
        except DeepbrainError as e:
            raise CorpusError(f"festival's output for {j.utt_id} is unreadable: {e}") from None
        names, ends = read_segs(segs)
        if j.voice in MRPA_VOICES:
            unknown = sorted({n for n in names if n not in MRPA_TO_ARPABET})
            if unknown:
                raise CorpusError(f"festival voice {j.voice} produced MRPA phone(s) "
                                  f"{', '.join(map(repr, unknown))}, which the map does not "
                                  f"know; add them to deepbrain.corpus.phones.MRPA_TO_ARPABET")
            names = [MRPA_TO_ARPABET[n] for n in names]
        if not names:
            raise CorpusError(f"festival gave no segments for {j.utt_id} ({segs})")
        timeline = from_arpabet(names, ends, f"festival voice {j.voice}")
        out[j.utt_id] = Spoken(audio.samples.astype(np.float64), audio.sample_rate,
                               _fit(timeline, audio.duration))
        wav.unlink()
        segs.unlink()
    return out


def _fit(t: Timeline, duration: float) -> Timeline:
    """The last segment ends with the audio (Festival's last pause can end a few ms off)."""
    ends = np.minimum(t.ends, duration)
    ends[-1] = duration
    return Timeline(t.labels, ends)
