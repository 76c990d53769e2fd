"""Writing what the window shows to files: sizes, outputs that never half-exist, ``.npz``.

Every output is written under a hidden temporary name beside its final one and renamed into
place when complete, so a failure or a cancel leaves nothing half-written; an existing file
is replaced only when asked (``--force``, or the window's overwrite question).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import DeepbrainError, OutputExistsError

MIN_SIZE = (320, 240)
MAX_SIZE = (7680, 4320)   # 8K UHD: a frame is 100 MB of RGBA already


def parse_size(text: str, what: str = "--size") -> tuple[int, int]:
    """``WIDTHxHEIGHT`` within MIN_SIZE..MAX_SIZE."""
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise DeepbrainError(f"{what}: expected WIDTHxHEIGHT like 1280x720, got "
                             f"{str(text)[:40]!r}") from None
    check_size(w, h, what)
    return w, h


def check_size(w: int, h: int, what: str = "size") -> None:
    if w < MIN_SIZE[0] or h < MIN_SIZE[1] or w > MAX_SIZE[0] or h > MAX_SIZE[1]:
        raise DeepbrainError(f"{what} {w}x{h}: outside {MIN_SIZE[0]}x{MIN_SIZE[1]} .. "
                             f"{MAX_SIZE[0]}x{MAX_SIZE[1]} (a frame takes 4 bytes a pixel, "
                             f"twice over while it is drawn); choose another {what}")


def check_output(path: str | os.PathLike, force: bool, what: str) -> Path:
    """``path`` as an absolute path that may be written: its folder exists, and it is not a
    folder, nor an existing file unless ``force``."""
    p = Path(path).absolute()
    if p.is_dir():
        raise OutputExistsError(f"{p}: is a directory; give {what} a file name")
    if p.exists() and not force:
        raise OutputExistsError(f"{p}: exists; pass --force to replace it or choose another "
                                f"name")
    if not p.parent.is_dir():
        raise DeepbrainError(f"{p.parent}: no such folder for {what}")
    return p


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` (same suffix) that becomes ``path`` when the block
    ends without an error, and is removed otherwise."""
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def save_activations_npz(acts, path: str | os.PathLike, force: bool = False) -> Path:
    """``acts`` (an :class:`~deepbrain.pipeline.Activations`) as a compressed ``.npz``:
    ``layerK`` (frames x units, float32) per layer, ``output`` when computed, ``utt_id`` and
    ``frame_shift`` (seconds). Read it with ``numpy.load(path)``."""
    out = check_output(path, force, "the .npz")
    arrays = {f"layer{k}": np.asarray(m) for k, m in acts.layers.items()}
    if acts.output is not None:
        arrays["output"] = np.asarray(acts.output)
    arrays["utt_id"] = np.array(acts.utt_id)
    arrays["frame_shift"] = np.array(acts.frame_shift)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return out
