"""Where the files that ship with deepbrain are: the Kaldi recipes and the demo model.

One copy of each lives in the repository's top-level ``kaldi_recipes/`` and ``models/demo/``.
A wheel carries them inside the package (``deepbrain/kaldi_recipes``,
``deepbrain/models/demo``: see ``setup.py``); a checkout or an editable install uses the
top-level folders. ``$DEEPBRAIN_KALDI_RECIPES`` points at another recipes folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import KaldiError, ModelError

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parents[1]  # app/deepbrain -> the repository


def _first(*candidates: Path, marker: str) -> Path | None:
    return next((c for c in candidates if (c / marker).is_file()), None)


def recipes_dir() -> Path:
    """The folder holding ``getact.sh`` (and ``path.sh``, ``local/``...)."""
    override = os.environ.get("DEEPBRAIN_KALDI_RECIPES")
    if override:
        if not (Path(override) / "getact.sh").is_file():
            raise KaldiError(f"{override}: DEEPBRAIN_KALDI_RECIPES has no getact.sh; point it "
                             f"at a kaldi_recipes/ folder or unset it")
        return Path(override)
    found = _first(_PACKAGE / "kaldi_recipes", _CHECKOUT / "kaldi_recipes", marker="getact.sh")
    if found is None:
        raise KaldiError(f"the Kaldi recipes are not installed with deepbrain (looked in "
                         f"{_PACKAGE / 'kaldi_recipes'} and {_CHECKOUT / 'kaldi_recipes'}); "
                         f"reinstall deepbrain, or set DEEPBRAIN_KALDI_RECIPES to a "
                         f"kaldi_recipes/ folder")
    return found


def demo_model_dir() -> Path:
    """The demo model that ships with deepbrain (used when no ``--model`` is given)."""
    found = _first(_PACKAGE / "models" / "demo", _CHECKOUT / "models" / "demo",
                   marker="final.nnet")
    if found is None:
        raise ModelError(f"no --model given and the demo model is not installed with "
                         f"deepbrain (looked in {_PACKAGE / 'models' / 'demo'} and "
                         f"{_CHECKOUT / 'models' / 'demo'}); pass --model DIR or reinstall")
    return found
