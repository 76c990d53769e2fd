"""Voices that give audio but no phone timings: RHVoice and SVOX Pico, run as programs.

Their utterances are labelled by forced alignment of the text (:mod:`deepbrain.align`,
pocketsphinx), so :mod:`.voices` only gives them sentences whose words are all in the
aligner's dictionary, and leaves out the rare utterance that still does not align.

- **RHVoice** (Debian ``rhvoice``, ``rhvoice-english``): ``RHVoice-test`` reads the text on
  its standard input. English voices alan (Scottish man), bdl (American man), clb and slt
  (American women): statistical (HTS) voices trained on the CMU ARCTIC recordings; their
  data is LGPL-2.1-or-later. The package's lyubov and evgeniy-eng voices are
  CC-BY-NC-ND and never used.
- **SVOX Pico** (Debian ``libttspico-utils``): ``pico2wave``, American and British
  English women; Apache-2.0 (its language data ships without sources, hence Debian's
  non-free section).

Both live in Debian's non-free component. Prosody: the rate and pitch in percent of the
voice's own (RHVoice's ``-r``/``-t``; Pico's ``<speed>``/``<pitch>`` markup). The text is an
argument or standard input of the program, never a shell word; Pico reads markup, so ``<``,
``>`` and ``&`` are dropped from its text first.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import read_wav
from ..errors import DeepbrainError
from .errors import CorpusError

RHVOICE = "RHVoice-test"
PICO = "pico2wave"
RHVOICE_VOICES = ("alan", "bdl", "clb", "slt")
PICO_VOICES = ("en-US", "en-GB")
RHVOICE_DATA = Path("/usr/share/RHVoice/voices")
PICO_DATA = Path("/usr/share/pico/lang")
INSTALL = ("add Debian's non-free component to apt's sources, then apt-get install rhvoice "
           "rhvoice-english libttspico-utils")
TIMEOUT_S = 120
FEMALE = frozenset({"clb", "slt", "en-US", "en-GB"})


@dataclass(frozen=True)
class UntimedJob:
    """One utterance: ``engine`` is ``rhvoice`` or ``pico``; ``rate`` and ``pitch`` in
    percent of the voice's own (100: unchanged)."""

    utt_id: str
    engine: str
    voice: str
    text: str
    rate: int = 100
    pitch: int = 100


def voices(engine: str) -> tuple[str, ...]:
    """The voices of ``engine`` installed here (empty without its program)."""
    if engine == "rhvoice":
        if shutil.which(RHVOICE) is None:
            return ()
        return tuple(v for v in RHVOICE_VOICES if (RHVOICE_DATA / v).is_dir())
    if engine == "pico":
        if shutil.which(PICO) is None:
            return ()
        return tuple(v for v in PICO_VOICES if (PICO_DATA / f"{v}_ta.bin").is_file())
    raise CorpusError(f"unknown untimed engine {engine!r}; choose rhvoice or pico")


def pico_text(text: str, rate: int, pitch: int) -> str:
    """``text`` without markup characters, in Pico's speed and pitch markup."""
    plain = " ".join(text.translate({ord(c): " " for c in "<>&"}).split())
    return f"<speed level='{rate:d}'><pitch level='{pitch:d}'>{plain}</pitch></speed>"


def synthesize(job: UntimedJob) -> tuple[np.ndarray, int]:
    """Samples (int16 scale, float64) and their rate."""
    if job.voice not in voices(job.engine):
        raise CorpusError(f"{job.engine} voice {job.voice!r} is not installed; {INSTALL}")
    if not 50 <= job.rate <= 200 or not 50 <= job.pitch <= 200:
        raise CorpusError(f"{job.utt_id}: rate and pitch must be 50..200 %, got {job.rate} "
                          f"and {job.pitch}")
    with tempfile.TemporaryDirectory(prefix="deepbrain-tts-") as tmp:
        wav = Path(tmp) / "out.wav"
        if job.engine == "rhvoice":
            cmd = [RHVOICE, "-p", job.voice, "-r", str(job.rate), "-t", str(job.pitch),
                   "-o", str(wav)]
            stdin = job.text.encode("utf-8")
        else:
            cmd = [PICO, "-l", job.voice, "-w", str(wav), "--",
                   pico_text(job.text, job.rate, job.pitch)]
            stdin = b""
        try:
            r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise CorpusError(f"{cmd[0]} took more than {TIMEOUT_S} s on {job.utt_id}") \
                from None
        if r.returncode != 0 or not wav.is_file():
            tail = " | ".join(r.stderr.decode(errors="replace").strip().splitlines()[-2:])
            raise CorpusError(f"{cmd[0]} made no audio for {job.utt_id} (exit "
                              f"{r.returncode}: {tail}); {INSTALL}")
        try:
            audio = read_wav(wav)
        except DeepbrainError as e:
            raise CorpusError(f"{cmd[0]}'s output for {job.utt_id} is unreadable: {e}") \
                from None
    return audio.samples.astype(np.float64), audio.sample_rate
