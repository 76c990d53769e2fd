"""The Kaldi engine: real Kaldi binaries through the shell recipes in ``kaldi_recipes/``.

This version finds Kaldi (for ``auto`` and ``doctor``) but does not run it yet.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import KaldiError

AVAILABLE = False
BINARIES = ("compute-mfcc-feats", "compute-cmvn-stats", "apply-cmvn", "splice-feats",
            "transform-feats", "nnet-forward", "nnet-copy")
_BIN_DIRS = ("src/featbin", "src/nnetbin", "src/bin")


@dataclass(frozen=True)
class KaldiInstall:
    where: str                   # KALDI_ROOT, or "PATH"
    binaries: dict               # name -> full path (found ones)

    @property
    def missing(self) -> list[str]:
        return [b for b in BINARIES if b not in self.binaries]


def find_kaldi(env: dict | None = None) -> KaldiInstall | None:
    """Kaldi under ``$KALDI_ROOT`` if set, else on PATH; None when no nnet-forward is found."""
    env = os.environ if env is None else env
    root = env.get("KALDI_ROOT")
    if root:
        search = os.pathsep.join(str(Path(root) / d) for d in _BIN_DIRS)
        where = root
    else:
        search, where = env.get("PATH", ""), "PATH"
    found = {b: p for b in BINARIES if (p := shutil.which(b, path=search))}
    if "nnet-forward" not in found:
        return None
    return KaldiInstall(where, found)


def require(kaldi: KaldiInstall | None) -> str:
    raise KaldiError("the Kaldi engine is not yet available in this version of deepbrain; "
                     "use --engine numpy (it computes the same numbers)")


def run(*args, **kwargs):
    raise KaldiError("the Kaldi engine is not yet available; use --engine numpy")
