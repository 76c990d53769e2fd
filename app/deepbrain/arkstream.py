"""Kaldi binary matrices written a block of rows at a time, and read back without loading.

An utterance's activations need not be in memory whole to be written: a Kaldi binary float
matrix is ``<key> \\0B FM \\4<rows> \\4<cols>`` then the rows, so once the row count is known
(an utterance's frames are known before its first frame is computed) the rows can follow as
they are made. Reading goes the other way: :func:`open_matrix` maps a matrix that an scp
points at (``ark:offset``) into memory lazily, so rows are read from disk as they are used.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from .errors import FormatError

_FLOAT = {b"FM ": "<f4", b"DM ": "<f8"}


def matrix_header(rows: int, cols: int, dtype: np.dtype) -> bytes:
    token = b"DM " if np.dtype(dtype) == np.float64 else b"FM "
    return b"\0B" + token + b"\x04" + struct.pack("<i", rows) + b"\x04" + struct.pack("<i", cols)


class ArkWriter:
    """An ark opened for appending; each matrix is :meth:`begin`, rows, rows..., with the
    offset an scp line needs returned by :meth:`begin`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._f = open(self.path, "ab")
        self._left = 0
        self._dtype = np.dtype("<f4")
        self._cols = 0

    def begin(self, key: str, rows: int, cols: int, dtype=np.float32) -> int:
        """Start ``key``'s matrix of ``rows`` x ``cols``; returns the offset of its data."""
        if self._left:
            raise RuntimeError(f"{self.path}: the previous matrix lacks {self._left} rows")
        self._f.write(key.encode("utf-8") + b" ")
        offset = self._f.tell()
        self._dtype = np.dtype(dtype).newbyteorder("<")
        self._f.write(matrix_header(rows, cols, self._dtype))
        self._left, self._cols = rows, cols
        return offset

    def rows(self, m: np.ndarray) -> None:
        if m.ndim != 2 or m.shape[1] != self._cols or m.shape[0] > self._left:
            raise RuntimeError(f"{self.path}: {m.shape} rows for a matrix of {self._cols} "
                               f"columns with {self._left} rows to go")
        data = np.ascontiguousarray(m, dtype=self._dtype)  # no copy where it already is
        self._f.write(memoryview(data).cast("B"))  # written from the array itself
        self._left -= m.shape[0]

    def whole(self, key: str, m: np.ndarray) -> int:
        offset = self.begin(key, m.shape[0], m.shape[1], m.dtype)
        self.rows(m)
        return offset

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def matrix_at(path: str | os.PathLike, offset: int) -> tuple[np.dtype, int, int]:
    """The dtype, rows and columns of the binary float matrix at ``offset`` of an ark (checked
    to lie within the file)."""
    with open(path, "rb") as f:
        f.seek(offset)
        head = f.read(15)
    if len(head) < 15 or head[:2] != b"\0B" or head[2:5] not in _FLOAT or head[5] != 4 \
            or head[10] != 4:
        raise FormatError(f"{path}: no binary float matrix at byte {offset} (Kaldi writes "
                          f"'\\0BFM '); was it written with compression or as text?")
    rows, cols = struct.unpack("<i", head[6:10])[0], struct.unpack("<i", head[11:15])[0]
    if rows < 0 or cols < 0:
        raise FormatError(f"{path}: a matrix of {rows} x {cols} at byte {offset}")
    dtype = np.dtype(_FLOAT[head[2:5]])
    if offset + 15 + rows * cols * dtype.itemsize > os.path.getsize(path):
        raise FormatError(f"{path}: the {rows} x {cols} matrix at byte {offset} runs past the "
                          f"end of the file (truncated)")
    return dtype, rows, cols


def open_matrix(path: str | os.PathLike, offset: int) -> np.ndarray:
    """The float matrix at ``offset`` of a Kaldi binary ark, memory-mapped (read lazily)."""
    dtype, rows, cols = matrix_at(path, offset)
    if rows == 0 or cols == 0:
        return np.zeros((rows, cols), dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset + 15, shape=(rows, cols))


class MatrixRows:
    """The binary float matrix at ``offset`` of an ark, its rows read when asked for.

    Plain reads rather than a memory map: an ark cut or rewritten while the window reads it
    then gives an error naming it, where a map would kill the process with SIGBUS."""

    def __init__(self, path: str | os.PathLike, offset: int):
        self.path = Path(path)
        self.dtype, rows, cols = matrix_at(path, offset)
        self.shape = (rows, cols)
        self._data = offset + 15

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows a .. b as float32."""
        rows, cols = self.shape
        a, b = max(0, a), min(b, rows)
        size = self.dtype.itemsize * cols
        want = max(0, b - a) * size
        try:
            with open(self.path, "rb") as f:
                raw = os.pread(f.fileno(), want, self._data + a * size) if want else b""
        except OSError as e:
            raise FormatError(f"{self.path}: cannot be read any more ({e.strerror}); was it "
                              f"moved or deleted while open?") from None
        if len(raw) < want:
            raise FormatError(f"{self.path}: rows {a}..{b} of the {rows} x {cols} matrix are "
                              f"not all there (the file was cut or rewritten while open); "
                              f"write the activations again")
        return np.frombuffer(raw, self.dtype).reshape(-1, cols).astype(np.float32)


def scp_entries(path: str | os.PathLike) -> list[tuple[str, str, int]]:
    """``(key, ark, offset)`` of each line of an scp whose entries are ``ark:offset``."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        key, rx = line.split(None, 1)
        ark, _, off = rx.strip().rpartition(":")
        if not off.isdigit():
            raise FormatError(f"{path}: entry {key} is not ark:offset ({rx[:60]!r})")
        out.append((key, ark, int(off)))
    return out
