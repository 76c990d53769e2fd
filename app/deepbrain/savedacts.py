"""Activations computed elsewhere: the ``layerK.scp`` of ``deepbrain activations`` or
``getact.sh`` (on a cluster, say), read back for one utterance without recomputing anything:
whole (:func:`read_saved_activations`), or, for an utterance too long to hold, a few rows at
a time as the window needs them (:class:`SavedFrames`).

Scp files are read here, not by kaldiio's scp reader: an entry that is a command
(``... |``) or stdin (``-``) is refused, because a file must never make us run a shell. An ark
an entry names that is not where the entry says (the folder was copied from another
machine) is looked for beside the scp, by its file name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .artefacts import Chunk
from .errors import FormatError
from .pipeline import Activations, freeze_layers

_RX = re.compile(r"^(?P<path>.+?)(?P<offset>:\d+)?(?P<range>\[[\d:,]+\])?$")


def scp_entries(path: str | os.PathLike) -> dict[str, str]:
    """``utt_id -> rxfilename`` of a Kaldi scp, each an ark offset or a file; commands, stdin
    and duplicated ids are refused."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except OSError as e:
        raise FormatError(f"{path}: cannot be read ({e.strerror})") from None
    if b"\0" in data:
        raise FormatError(f"{path}: holds NUL bytes, so it is not a Kaldi scp "
                          f"('<utt-id> <file.ark>:<offset>' per line); an ark given for an scp?")
    # Kaldi's tables are bytes: file names that are not UTF-8 pass through as they are
    text = data.decode("utf-8", "surrogateescape")
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            raise FormatError(f"{path}: line {n} is not '<utt-id> <file.ark>:<offset>'")
        utt, rx = parts[0], parts[1].strip()
        if rx.endswith("|") or rx.startswith("|") or rx == "-" or rx.startswith("-:"):
            raise FormatError(f"{path}: line {n} ({utt[:40]}) is a command or stdin "
                              f"({rx[:40]!r}); deepbrain reads ark files only: write the "
                              f"arks to files first")
        if utt in out:
            raise FormatError(f"{path}: utterance {utt[:40]} appears twice")
        out[utt] = rx
    if not out:
        raise FormatError(f"{path}: no entries")
    return out


def locate(scp: Path, utt_id: str, rx: str) -> tuple[Path, str]:
    """The ark ``rx`` names (found beside the scp if it has moved) and what follows its name
    (``:offset`` and a range, if any)."""
    m = _RX.match(rx)
    ark = Path(m.group("path")) if m else Path(rx)
    if not ark.is_absolute() and not ark.is_file():
        ark = scp.parent / ark
    if not ark.is_file() and (scp.parent / ark.name).is_file():
        ark = scp.parent / ark.name
    if not ark.is_file():
        raise FormatError(f"{scp}: utterance {utt_id} is in {m.group('path') if m else rx}, "
                          f"which does not exist (nor beside the scp)")
    return ark, (m.group("offset") or "") + (m.group("range") or "") if m else ""


def load_entry(scp: Path, utt_id: str, rx: str) -> np.ndarray:
    """The matrix or vector ``rx`` of ``scp`` names (its ark found beside the scp if it has
    moved)."""
    import kaldiio

    ark, rest = locate(scp, utt_id, rx)
    try:
        return np.asarray(kaldiio.load_mat(f"{ark}{rest}"))
    except Exception as e:  # kaldiio raises whatever its parser hits on bad bytes
        why = " ".join(str(e).split())[:120]
        raise FormatError(f"{ark}: utterance {utt_id} cannot be read ({type(e).__name__}: "
                          f"{why}); is the ark truncated?") from None


def layer_scps(directory: str | os.PathLike, model) -> dict[int, Path]:
    """The ``layerK.scp`` files of ``directory`` for ``model``'s hidden layers (some must be
    there, and some must have a map)."""
    d = Path(directory)
    if not d.is_dir():
        raise FormatError(f"{d}: not a directory; --acts takes the folder deepbrain "
                          f"activations (or getact.sh) wrote, with layerK.scp files")
    files = {k: d / f"layer{k}.scp" for k in range(1, model.num_hidden + 1)}
    files = {k: p for k, p in files.items() if p.is_file()}
    if not files:
        raise FormatError(f"{d}: has no layerK.scp for any of {model.path}'s "
                          f"{model.num_hidden} hidden layers; write them with deepbrain "
                          f"activations --out {d}")
    if not any(k in model.maps for k in files):
        raise FormatError(f"{d}: has layers {', '.join(map(str, sorted(files)))}, none of "
                          f"which has a map in {model.path / 'lda'}")
    return files


def read_saved_activations(directory: str | os.PathLike, utt_id: str, model,
                           num_frames: int, output: bool = True) -> Activations:
    """Utterance ``utt_id`` from ``directory``'s ``layerK.scp`` (and, with ``output``, its
    ``output.scp`` when present), checked against ``model``'s layers and the wav's
    ``num_frames``."""
    d = Path(directory)
    files = layer_scps(d, model)
    layers = {}
    for k, scp in sorted(files.items()):
        layers[k] = _matrix(scp, utt_id, (num_frames, model.hidden_dims[k - 1]),
                            f"layer {k} of {model.path.name}")
    out = None
    if output and (d / "output.scp").is_file():
        out = _matrix(d / "output.scp", utt_id, (num_frames, model.nnet.output_dim),
                      f"the output of {model.path.name}")
    return Activations(utt_id, freeze_layers(layers), out, model.frame_shift, f"saved ({d})")


class SavedFrames:
    """Utterance ``utt_id`` of ``directory``'s ``layerK.scp`` (only the mapped layers, and
    ``output.scp`` with ``output``), its rows read from the arks when asked for: a
    :class:`deepbrain.framecache.FrameSource` for an utterance too long to load whole. The
    arks must hold binary float matrices (what deepbrain activations and getact.sh write)."""

    def __init__(self, directory: str | os.PathLike, utt_id: str, model, num_frames: int,
                 output: bool = True):
        d = Path(directory)
        files = {k: p for k, p in layer_scps(d, model).items() if k in model.maps}
        self.utt_id, self.engine = utt_id, f"saved ({d}), rows read as needed"
        self.num_frames = num_frames
        self._mats = {k: self._open(scp, (num_frames, model.hidden_dims[k - 1]),
                                    f"layer {k} of {model.path.name}")
                      for k, scp in sorted(files.items())}
        self._out = None
        if output and (d / "output.scp").is_file():
            self._out = self._open(d / "output.scp", (num_frames, model.nnet.output_dim),
                                   f"the output of {model.path.name}")
        self.dims = MappingProxyType({k: m.shape[1] for k, m in self._mats.items()})
        self.output_dim = self._out.shape[1] if self._out is not None else None

    def _open(self, scp: Path, shape: tuple[int, int], what: str):
        from .arkstream import MatrixRows

        entries = scp_entries(scp)
        if self.utt_id not in entries:
            raise FormatError(_no_utterance(scp, self.utt_id, entries))
        ark, rest = locate(scp, self.utt_id, entries[self.utt_id])
        if not rest.lstrip(":").isdigit():
            raise FormatError(f"{scp}: utterance {self.utt_id} is {entries[self.utt_id][:60]!r}; "
                              f"a long utterance is read a few rows at a time from "
                              f"'<file.ark>:<offset>' entries only")
        m = MatrixRows(ark, int(rest[1:]))
        _check_shape(scp, self.utt_id, m.shape, shape, what)
        m.scp = scp
        return m

    def compute(self, a: int, b: int) -> Chunk:
        layers = {k: self._rows(m, a, b) for k, m in self._mats.items()}
        out = self._rows(self._out, a, b) if self._out is not None else None
        return Chunk(self.utt_id, a, self.num_frames, MappingProxyType(layers), out)

    def _rows(self, m, a: int, b: int) -> np.ndarray:
        x = m.rows(a, b)
        if not np.all(np.isfinite(x)):
            raise FormatError(f"{m.scp}: utterance {self.utt_id} holds NaN or infinite values "
                              f"(frames {a}..{b})")
        return x


def _no_utterance(scp: Path, utt_id: str, entries: dict[str, str]) -> str:
    some = ", ".join(list(entries)[:3])
    return (f"{scp}: has no utterance {utt_id!r} (the wav's name without .wav); it holds "
            f"{len(entries)}: {some}{', ...' if len(entries) > 3 else ''}; rename the wav "
            f"after the utterance id")


def _check_shape(scp: Path, utt_id: str, got: tuple, shape: tuple[int, int], what: str
                 ) -> None:
    if len(got) != 2 or got[1] != shape[1]:
        raise FormatError(f"{scp}: utterance {utt_id} is {'x'.join(map(str, got))}, "
                          f"but {what} has {shape[1]} units: activations of another model?")
    if got[0] != shape[0]:
        raise FormatError(f"{scp}: utterance {utt_id} has {got[0]} frames, the wav gives "
                          f"{shape[0]}: activations of another wav, or other frame options?")


def _matrix(scp: Path, utt_id: str, shape: tuple[int, int], what: str) -> np.ndarray:
    entries = scp_entries(scp)
    if utt_id not in entries:
        raise FormatError(_no_utterance(scp, utt_id, entries))
    m = load_entry(scp, utt_id, entries[utt_id])
    _check_shape(scp, utt_id, m.shape, shape, what)
    if not np.all(np.isfinite(m)):
        raise FormatError(f"{scp}: utterance {utt_id} holds NaN or infinite values")
    return m.astype(np.float32, copy=False)
