"""Helpers for the training tests: the shipped demo model's paths, Kaldi binaries, and why
an espeak-ng corpus cannot be made here (if it cannot)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from support import ROOT
from deepbrain.training import RecipeConfig, TrainConfig

DEMO = ROOT / "models" / "demo"
# The smoke recipe: 12 utterances (0 and 10 are the test split, spoken by held-out voices;
# ten train, one of them validation), a 2 x 32 network, one epoch.
SMOKE = RecipeConfig(utts=12, seed=3, workers=2,
                     train=TrainConfig(hidden_layers=2, hidden_units=32, epochs=1,
                                       batch_size=64, learn_rate=3e-3, seed=3))


def example_labels(model_dir: Path) -> dict[str, np.ndarray]:
    import kaldiio

    return dict(kaldiio.load_ark(str(model_dir / "examples" / "phones.ark")))


def example_wavs(model_dir: Path) -> list[Path]:
    return sorted((model_dir / "examples").glob("*.wav"))


def kaldi_bin(name: str) -> str:
    root = Path(os.environ["KALDI_ROOT"]) / "src"
    for sub in ("featbin", "nnetbin", "bin"):
        if (root / sub / name).is_file():
            return str(root / sub / name)
    raise FileNotFoundError(f"{name} is not under {root}/{{featbin,nnetbin,bin}}")


def kaldi(*args: str) -> subprocess.CompletedProcess:
    """Run a Kaldi binary (argument list, no shell); fail with its stderr."""
    r = subprocess.run([kaldi_bin(args[0]), *args[1:]], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C"))
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{r.stderr[-2000:]}")
    return r
