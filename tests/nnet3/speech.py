"""16 kHz speech for the nnet3 tests: an espeak-ng sentence, a real recording (alsa-utils'
48 kHz clips, resampled), and a 12 s one (past the i-vector extractor's max-count)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from deepbrain.audio import Audio, read_wav, resample, write_wav16

ALSA = Path("/usr/share/sounds/alsa")


def make_wavs(out: Path) -> list[Path]:
    """Write the wavs that can be made here; at least the alsa ones where installed."""
    out.mkdir(parents=True, exist_ok=True)
    made = []
    clips = [resample(read_wav(p, channel=0), 16000) for p in sorted(ALSA.glob("*.wav"))]
    if clips:
        write_wav16(clips[0], out / "alsa.wav")
        made.append(out / "alsa.wav")
        pause = np.zeros(4000, np.float32)
        long = np.concatenate([np.concatenate([c.samples, pause]) for c in clips])
        write_wav16(Audio(long, 16000, "long"), out / "long.wav")
        made.append(out / "long.wav")
    if shutil.which("espeak-ng"):
        raw = out / "espeak22k.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw),
                        "The quick brown fox jumps over the lazy dog, twice, slowly."],
                       check=True, capture_output=True)
        write_wav16(resample(read_wav(raw, channel=0), 16000), out / "espeak.wav")
        raw.unlink()
        made.append(out / "espeak.wav")
    return made
