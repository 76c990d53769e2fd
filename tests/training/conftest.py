"""Fixtures for the training tests: a smoke-sized model made by the whole recipe once per
session (skipped with a reason when libespeak-ng is missing; CI installs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainsupport import SMOKE
from deepbrain.training import make_model
from deepbrain.training.report import render_readme


@pytest.fixture(scope="session")
def smoke(needs_voices, tmp_path_factory):
    """(work dir, model dir, RecipeResult) of the recipe (the many-voiced corpus) on 12
    utterances and one epoch."""
    root = tmp_path_factory.mktemp("smoke")
    epochs = []
    result = make_model(root / "model", root / "work", SMOKE, on_epoch=epochs.append,
                        readme=render_readme)
    return root / "work", root / "model", result, epochs


@pytest.fixture(scope="session")
def smoke_model(smoke) -> Path:
    return smoke[1]
