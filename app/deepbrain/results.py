"""Writing an activations directory: ``layerK.ark`` + ``layerK.scp`` per hidden layer.

Binary Kaldi arks keyed by utterance id, with scp files that point at their final place.
Everything is written into a hidden sibling folder first and moved into the output
directory only when all utterances are done, so a failure or a cancel leaves nothing
half-written, and an earlier result is never overwritten without ``force``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import kaldiio

from .errors import OutputExistsError
from .pipeline import Activations

_RESULT = re.compile(r"^(layer\d+|output|feats|cmvn|cmvn_feats|spliced|transformed|nnet_input)"
                     r"\.(ark|scp)$|^(summary\.json|utt2num_frames)$")


def existing_results(out_dir: Path) -> list[str]:
    if not out_dir.is_dir():
        return []
    return sorted(p.name for p in out_dir.iterdir() if _RESULT.match(p.name))


class ResultsWriter:
    """Use as a context manager: ``write`` each utterance, then ``finish``."""

    def __init__(self, out_dir: str | os.PathLike, force: bool = False):
        self.out_dir = Path(out_dir).absolute()
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise OutputExistsError(f"{self.out_dir}: exists and is not a directory; "
                                    f"choose another --out")
        old = existing_results(self.out_dir)
        if old and not force:
            raise OutputExistsError(f"{self.out_dir}: already holds results ({', '.join(old[:4])}"
                                    f"{', ...' if len(old) > 4 else ''}); pass --force to "
                                    f"replace them or choose another --out")
        self._tmp: Path | None = None
        self._names: list[str] = []
        self._frames: list[tuple[str, int]] = []

    def __enter__(self) -> "ResultsWriter":
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.out_dir.parent / f".{self.out_dir.name}.partial-{os.getpid()}"
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def write(self, act: Activations) -> None:
        mats = [(f"layer{k}", m) for k, m in act.layers.items()]
        if act.output is not None:
            mats.append(("output", act.output))
        if act.stages is not None:
            mats.extend(act.stages.items())
        for name, m in mats:
            if name not in self._names:
                self._names.append(name)
            kaldiio.save_ark(str(self._tmp / f"{name}.ark"), {act.utt_id: m},
                             scp=str(self._tmp / f"{name}.scp"), append=True)
        self._frames.append((act.utt_id, act.num_frames))

    def finish(self, summary: dict) -> Path:
        """Point the scp files at the final arks and move everything into place."""
        tmp = self._tmp
        for name in self._names:
            final_ark = str(self.out_dir / f"{name}.ark")
            scp = tmp / f"{name}.scp"
            lines = []
            for line in scp.read_text(encoding="utf-8").splitlines():
                utt, rx = line.split(" ", 1)
                lines.append(f"{utt} {final_ark}:{rx.rsplit(':', 1)[1]}\n")
            scp.write_text("".join(lines), encoding="utf-8")
        (tmp / "utt2num_frames").write_text("".join(f"{u} {n}\n" for u, n in self._frames))
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for old in existing_results(self.out_dir):
            (self.out_dir / old).unlink()
        for f in sorted(tmp.iterdir()):
            os.replace(f, self.out_dir / f.name)
        return self.out_dir
