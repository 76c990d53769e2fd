"""Fixtures for the espeak-ng corpus tests: small corpora made once per session.

Tests that synthesise skip with a reason when libespeak-ng is not installed (CI installs
``espeak-ng libespeak-ng1 wordnet-base wamerican`` with apt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepbrain.corpus.make import make_corpus

HELD_OUT = ("m3", "klatt2")
N_UTTS = 6  # utterance 0 is the test split (every 10th), 1..5 train


@pytest.fixture(scope="session")
def corpus2(needs_espeak, tmp_path_factory) -> Path:
    """A 6-utterance corpus made with 2 workers."""
    out = tmp_path_factory.mktemp("c2") / "corpus"
    make_corpus(out, N_UTTS, seed=7, held_out_voices=HELD_OUT, workers=2)
    return out


@pytest.fixture(scope="session")
def corpus1(needs_espeak, tmp_path_factory) -> Path:
    """The same corpus as ``corpus2``, made with 1 worker."""
    out = tmp_path_factory.mktemp("c1") / "corpus"
    make_corpus(out, N_UTTS, seed=7, held_out_voices=HELD_OUT, workers=1)
    return out


@pytest.fixture(scope="session")
def held_out() -> tuple[str, ...]:
    return HELD_OUT
