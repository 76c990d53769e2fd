"""Kaldi's object serialisation: tokens, basic types, matrices and vectors, binary and text.

kaldiio reads whole matrix and vector files (``final.mat``, class-frame counts) and arks; this
module reads what kaldiio does not: objects embedded in a token stream, as in nnet1 files.
Every malformed input raises :class:`FormatError` naming the file; nothing else escapes.

Kaldi's binary conventions (``base/io-funcs``): a file starts with ``"\\0B"``; a token is its
characters followed by one space; a basic type is one size byte then the little-endian value;
a matrix is ``FM``/``DM`` then rows and cols as basic int32 then the data row by row.
"""

from __future__ import annotations

import io
import mmap
import os
import stat
import struct
from pathlib import Path

import numpy as np

from .errors import FormatError

BINARY_HEADER = b"\0B"
# Files from this size on are read through a memory map rather than into a bytes object:
# a network of 120 MB then loads in a third of the time (no second copy to first-touch).
MAP_FROM = 1 << 20
_WHITESPACE = b" \t\n\r\v\f"


class KaldiStream:
    """A cursor over the bytes of one Kaldi object file, in binary or text mode."""

    def __init__(self, data: bytes | mmap.mmap, source: str):
        self.source = source
        self.binary = data[:2] == BINARY_HEADER
        self._data = data
        self._pos = 2 if self.binary else 0

    @classmethod
    def open(cls, path: str | os.PathLike) -> "KaldiStream":
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_size < MAP_FROM or not stat.S_ISREG(st.st_mode):
                    data = f.read()
                else:  # a network's matrices are copied out of the file's pages once
                    data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            raise FormatError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}"
                              ) from None
        return cls(data, str(path))

    # -- low level -------------------------------------------------------------------------

    def fail(self, what: str) -> FormatError:
        mode = "binary" if self.binary else "text"
        return FormatError(f"{self.source}: {what} (byte {self._pos} of {len(self._data)}, "
                           f"{mode} Kaldi file); the file is truncated or not what it claims")

    def _skip_ws(self) -> None:
        data, pos = self._data, self._pos
        while pos < len(data) and data[pos] in _WHITESPACE:
            pos += 1
        self._pos = pos

    def _take(self, n: int) -> bytes:
        if n < 0 or self._pos + n > len(self._data):
            raise self.fail(f"expected {n} more bytes, found {len(self._data) - self._pos}")
        chunk = self._data[self._pos:self._pos + n]
        self._pos += n
        return chunk

    def _take_view(self, n: int) -> memoryview:
        """As :meth:`_take`, without copying (for matrices: the copy is the array's own)."""
        if n < 0 or self._pos + n > len(self._data):
            raise self.fail(f"expected {n} more bytes, found {len(self._data) - self._pos}")
        view = memoryview(self._data)[self._pos:self._pos + n]
        self._pos += n
        return view

    def at_end(self) -> bool:
        """True when only whitespace is left (call it between objects, never inside one)."""
        self._skip_ws()
        return self._pos >= len(self._data)

    def peek(self) -> str:
        """The next character (after whitespace in text mode, as Kaldi's ``Peek``), or ''."""
        if not self.binary:
            self._skip_ws()
        if self._pos >= len(self._data):
            return ""
        return chr(self._data[self._pos])

    # -- tokens and basic types ------------------------------------------------------------

    def read_token(self) -> str:
        self._skip_ws()
        start = pos = self._pos
        data = self._data
        while pos < len(data) and data[pos] not in _WHITESPACE:
            pos += 1
        if pos == start:
            raise self.fail("expected a token, found the end of the file")
        self._pos = pos
        if self.binary:
            if pos >= len(data) or data[pos] != 0x20:
                raise self.fail("expected a space after a binary token")
            self._pos += 1
        try:
            return data[start:pos].decode("ascii")
        except UnicodeDecodeError:
            raise self.fail("found bytes that are not a token") from None

    def expect_token(self, token: str) -> None:
        found = self.read_token()
        if found != token:
            raise self.fail(f"expected {token}, found {found!r}")

    def peek_token(self) -> str:
        """The next token without consuming it ('' at the end)."""
        pos = self._pos
        try:
            return self.read_token() if not self.at_end() else ""
        finally:
            self._pos = pos

    def _read_text_word(self, what: str) -> str:
        self._skip_ws()
        start = pos = self._pos
        data = self._data
        while pos < len(data) and data[pos] not in _WHITESPACE:
            pos += 1
        if pos == start:
            raise self.fail(f"expected {what}, found the end of the file")
        self._pos = pos
        return data[start:pos].decode("latin-1")

    def read_int(self) -> int:
        if self.binary:
            size = self._take(1)[0]
            if size != 4:
                raise self.fail(f"expected a 4-byte integer, found size byte {size}")
            return struct.unpack("<i", self._take(4))[0]
        word = self._read_text_word("an integer")
        try:
            return int(word)
        except ValueError:
            raise self.fail(f"expected an integer, found {word[:20]!r}") from None

    def read_float(self) -> float:
        if self.binary:
            size = self._take(1)[0]
            if size == 4:
                return struct.unpack("<f", self._take(4))[0]
            if size == 8:
                return struct.unpack("<d", self._take(8))[0]
            raise self.fail(f"expected a 4- or 8-byte float, found size byte {size}")
        word = self._read_text_word("a number")
        try:
            return float(word)
        except ValueError:
            raise self.fail(f"expected a number, found {word[:20]!r}") from None

    def read_bool(self) -> bool:
        """Kaldi's ``ReadBasicType<bool>``: one character ``T`` or ``F`` (text: after spaces)."""
        if not self.binary:
            self._skip_ws()
        c = self._take(1)
        if c not in (b"T", b"F"):
            self._pos -= 1
            raise self.fail(f"expected a boolean (T or F), found {c!r}")
        return c == b"T"

    def read_line(self) -> str:
        """The raw text up to the next newline, which is eaten (``std::getline``). The config
        section of an nnet3 file is such lines, in binary files too."""
        end = self._data.find(b"\n", self._pos)
        if end < 0:
            raise self.fail("expected a line of text, found the end of the file")
        line = self._data[self._pos:end]
        self._pos = end + 1
        try:
            return line.decode("ascii").rstrip("\r")
        except UnicodeDecodeError:
            raise self.fail("found bytes that are not text in a config line") from None

    # -- matrices and vectors --------------------------------------------------------------

    def _text_bracket_numbers(self) -> tuple[np.ndarray, int]:
        """Numbers between ``[`` and ``]`` and how many non-empty lines they were on."""
        self._skip_ws()
        if self._take(1) != b"[":
            self._pos -= 1
            raise self.fail("expected '[' opening a matrix or vector")
        end = self._data.find(b"]", self._pos)
        if end < 0:
            raise self.fail("no ']' closes the matrix or vector")
        body = self._data[self._pos:end]
        self._pos = end + 1
        lines = [line for line in body.split(b"\n") if line.strip()]
        try:
            values = np.array(body.split(), dtype=np.float64)
        except ValueError:
            raise self.fail("found something that is not a number inside [ ]") from None
        return values, len(lines)

    def read_matrix(self, double: bool = False) -> np.ndarray:
        """A float32 matrix (Kaldi converts double to float on reading, and so do we);
        ``double=True`` for Kaldi's ``Matrix<double>`` members (i-vector extractor)."""
        if not self.binary:
            values, rows = self._text_bracket_numbers()
            if rows == 0:
                return np.zeros((0, 0), dtype=np.float64 if double else np.float32)
            if values.size % rows:
                raise self.fail(f"{values.size} numbers do not make {rows} equal rows")
            return self._finite(values.reshape(rows, values.size // rows), double)
        kind = self.read_token()
        if kind not in ("FM", "DM"):
            raise self.fail(f"expected a matrix (FM or DM), found {kind!r}")
        rows, cols = self.read_int(), self.read_int()
        if rows < 0 or cols < 0:
            raise self.fail(f"negative matrix size {rows} x {cols}")
        dtype = "<f4" if kind == "FM" else "<f8"
        raw = self._take_view(rows * cols * np.dtype(dtype).itemsize)
        return self._finite(np.frombuffer(raw, dtype=dtype).reshape(rows, cols), double)

    def read_vector(self, double: bool = False) -> np.ndarray:
        if not self.binary:
            values, _ = self._text_bracket_numbers()
            return self._finite(values, double)
        kind = self.read_token()
        if kind not in ("FV", "DV"):
            raise self.fail(f"expected a vector (FV or DV), found {kind!r}")
        dim = self.read_int()
        if dim < 0:
            raise self.fail(f"negative vector size {dim}")
        dtype = "<f4" if kind == "FV" else "<f8"
        raw = self._take_view(dim * np.dtype(dtype).itemsize)
        return self._finite(np.frombuffer(raw, dtype=dtype), double)

    def read_packed_matrix(self) -> np.ndarray:
        """A symmetric ``SpMatrix`` (``FP``/``DP`` + size + the lower triangle row by row;
        text: ``[`` the rows of the triangle ``]``), as a full float64 matrix."""
        if not self.binary and self.peek() == "[":
            values, _ = self._text_bracket_numbers()
            n = int(round((np.sqrt(8 * values.size + 1) - 1) / 2))
            if n * (n + 1) // 2 != values.size:
                raise self.fail(f"{values.size} numbers are not the triangle of a matrix")
        else:
            kind = self.read_token()
            if kind not in ("FP", "DP"):
                raise self.fail(f"expected a packed matrix (FP or DP), found {kind!r}")
            n = self.read_int()
            if n < 0:
                raise self.fail(f"negative matrix size {n}")
            count = n * (n + 1) // 2
            if self.binary:
                dtype = "<f4" if kind == "FP" else "<f8"
                values = np.frombuffer(self._take(count * np.dtype(dtype).itemsize), dtype=dtype)
            else:
                values = np.array([self.read_float() for _ in range(count)])
        values = self._finite(values, double=True)
        rows, cols = np.tril_indices(n)
        full = np.zeros((n, n), dtype=np.float64)
        full[rows, cols] = values
        full[cols, rows] = values
        return full

    def _finite(self, values: np.ndarray, double: bool = False) -> np.ndarray:
        """As float32 (or float64 when ``double``); NaN or infinity (or a double beyond float
        range) means corruption."""
        with np.errstate(over="ignore", invalid="ignore"):
            out = values.astype(np.float64 if double else np.float32)
        if not np.all(np.isfinite(out)):
            raise self.fail("found NaN or infinite parameters")
        return out

    def read_int_vector(self) -> np.ndarray:
        """Kaldi's ``ReadIntegerVector`` (int32 elements)."""
        if not self.binary:
            values, _ = self._text_bracket_numbers()
            if not np.all(values == np.round(values)):
                raise self.fail("expected whole numbers in an integer vector")
            return values.astype(np.int64)
        size = self._take(1)[0]
        if size != 4:
            raise self.fail(f"expected 4-byte integer elements, found size {size}")
        count = struct.unpack("<i", self._take(4))[0]
        if count < 0:
            raise self.fail(f"negative vector size {count}")
        return np.frombuffer(self._take(4 * count), dtype="<i4").astype(np.int64)


class KaldiWriter:
    """Writes tokens, basic types, matrices and vectors the way Kaldi does."""

    def __init__(self, binary: bool):
        self.binary = binary
        self._out = io.BytesIO()
        if binary:
            self._out.write(BINARY_HEADER)

    def getvalue(self) -> bytes:
        return self._out.getvalue()

    def token(self, token: str) -> None:
        self._out.write(token.encode("ascii") + b" ")

    def newline(self) -> None:
        if not self.binary:
            self._out.write(b"\n")

    def int(self, value: int) -> None:
        if self.binary:
            self._out.write(b"\x04" + struct.pack("<i", value))
        else:
            self._out.write(f"{value} ".encode())

    def float(self, value: float) -> None:
        if self.binary:
            self._out.write(b"\x04" + struct.pack("<f", value))
        else:
            self._out.write(f"{_fmt(value)} ".encode())

    def matrix(self, m: np.ndarray) -> None:
        m = np.ascontiguousarray(m, dtype=np.float32)
        if self.binary:
            self.token("FM")
            self.int(m.shape[0])
            self.int(m.shape[1])
            self._out.write(m.astype("<f4").tobytes())
            return
        self._out.write(b" [")
        for row in m:
            self._out.write(b"\n  " + "".join(_fmt(v) + " " for v in row).encode())
        self._out.write(b"]\n")

    def vector(self, v: np.ndarray) -> None:
        v = np.ascontiguousarray(v, dtype=np.float32)
        if self.binary:
            self.token("FV")
            self.int(v.shape[0])
            self._out.write(v.astype("<f4").tobytes())
            return
        self._out.write(b" [ " + "".join(_fmt(x) + " " for x in v).encode() + b"]\n")

    def bool(self, value: bool) -> None:
        self._out.write(b"T" if value else b"F")
        if not self.binary:
            self._out.write(b" ")

    def text(self, text: str) -> None:
        """Raw text, as the config section of an nnet3 file (in binary files too)."""
        self._out.write(text.encode("ascii"))

    def packed_matrix(self, m: np.ndarray) -> None:
        """The lower triangle of a symmetric matrix, as ``SpMatrix<double>::Write``."""
        tri = np.asarray(m, dtype=np.float64)[np.tril_indices(m.shape[0])]
        if self.binary:
            self.token("DP")
            self.int(m.shape[0])
            self._out.write(tri.astype("<f8").tobytes())
            return
        n, rows = m.shape[0], []
        for i in range(n):
            rows.append(" ".join(f"{v:.17g}" for v in tri[i * (i + 1) // 2:(i + 1) * (i + 2) // 2]))
        self._out.write(("[\n" + "\n".join(rows) + " ]\n").encode() if n else b"[ ]\n")

    def int_vector(self, v: np.ndarray) -> None:
        v = np.asarray(v, dtype="<i4")
        if self.binary:
            self._out.write(b"\x04" + struct.pack("<i", v.shape[0]) + v.tobytes())
            return
        self._out.write(b"[ " + " ".join(str(int(x)) for x in v).encode() + b" ]\n")


def _fmt(value: float) -> str:
    """Kaldi's text float form: C++ ``operator<<`` with 7 significant digits."""
    return f"{float(np.float32(value)):.7g}"


def read_matrix_file(path: str | os.PathLike, what: str) -> np.ndarray:
    """A whole-file Kaldi matrix (``final.mat``), binary or text, float or double."""
    m = _load_with_kaldiio(path, what)
    if m.ndim != 2 or m.size == 0:
        raise FormatError(f"{path}: expected a non-empty Kaldi matrix for {what}, "
                          f"found an array of shape {m.shape}")
    return m.astype(np.float32)


def read_double_matrix_file(path: str | os.PathLike, what: str) -> np.ndarray:
    """A whole-file Kaldi matrix kept in double (CMVN statistics: sums over millions of
    frames, which float32 would round)."""
    m = _load_with_kaldiio(path, what)
    if m.ndim != 2 or m.size == 0:
        raise FormatError(f"{path}: expected a non-empty Kaldi matrix for {what}, "
                          f"found an array of shape {m.shape}")
    return m.astype(np.float64)


def read_vector_file(path: str | os.PathLike, what: str) -> np.ndarray:
    """A whole-file Kaldi vector (class-frame counts), binary or text, as float64."""
    v = _load_with_kaldiio(path, what)
    if v.ndim != 1 or v.size == 0:
        raise FormatError(f"{path}: expected a non-empty Kaldi vector for {what}, "
                          f"found an array of shape {v.shape}")
    return v.astype(np.float64)


def _load_with_kaldiio(path: str | os.PathLike, what: str) -> np.ndarray:
    import kaldiio

    if not Path(path).is_file():
        raise FormatError(f"{path}: no such file ({what})")
    try:
        value = kaldiio.load_mat(str(path))
    except Exception as e:  # kaldiio raises whatever its parser hits on bad bytes
        raise FormatError(f"{path}: not a readable Kaldi matrix/vector for {what} "
                          f"({type(e).__name__}: {e}); regenerate or re-copy the file") from None
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
        raise FormatError(f"{path}: not a Kaldi matrix/vector for {what}")
    if not np.all(np.isfinite(value)):
        raise FormatError(f"{path}: holds NaN or infinite values ({what})")
    return value
