"""Fixtures: the Kaldi golden outputs (skipped when ../shared is absent), a synthetic model
directory and wav (always available), and the ``kaldi`` marker. Helpers are in support.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deepbrain.corpus import why_unavailable
from support import GOLDEN, SEED, speechlike, wav_bytes, write_tiny_model


def pytest_collection_modifyitems(config, items):
    if os.environ.get("KALDI_ROOT"):
        return
    skip = pytest.mark.skip(reason="needs real Kaldi: set KALDI_ROOT to a Kaldi build")
    for item in items:
        if "kaldi" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def needs_espeak() -> None:
    """Skip where no espeak-ng corpus can be made (CI installs espeak-ng with apt)."""
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def needs_voices(needs_espeak) -> None:
    """Skip where the many-voiced corpus cannot be made (CI installs festival, its voices,
    flite and ffmpeg with apt)."""
    from deepbrain.corpus.voices import why_unavailable as voices_unavailable

    reason = voices_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def golden() -> Path:
    if not (GOLDEN / "README.md").is_file():
        pytest.skip(f"Kaldi golden outputs not found at {GOLDEN} (../shared is beside the "
                    f"project in the developers' checkout and in CI, not in a user's clone)")
    return GOLDEN


@pytest.fixture(scope="session")
def seed_model() -> Path:
    if not (SEED / "model" / "final.mat").is_file():
        pytest.skip(f"the seed system's model folder is not at {SEED} (../shared is absent)")
    return SEED / "model"


@pytest.fixture(scope="session")
def golden_arks(golden):
    import kaldiio

    names = ("feats", "cmvn", "cmvn_feats", "spliced", "transformed", "nnet_input", "layer1",
             "layer2", "layer3", "posteriors", "logpost_minus_prior")
    return {n: dict(kaldiio.load_ark(str(golden / f"{n}.ark"))) for n in names}


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    return write_tiny_model(tmp_path / "model")


@pytest.fixture
def speech_wav(tmp_path) -> Path:
    p = tmp_path / "speech.wav"
    p.write_bytes(wav_bytes(speechlike()))
    return p
