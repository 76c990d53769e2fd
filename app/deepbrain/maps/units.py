"""What ``build-map`` found out about each unit of a layer, read back for the window.

``lda/K/units.csv`` (``unit,x,y,preferred,psi,entropy_bits``, units 1..N in order),
``lda/K/summary.json`` (``phones``: the columns of the patterns, in order) and
``lda/K/activities`` (units x phones activity patterns, ``nan`` for a phone without frames).
A map without ``units.csv`` (the original demo's) has no unit table: the window then shows
activations only.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..phoneclasses import phone_key

HEADER = "unit,x,y,preferred,psi,entropy_bits"


@dataclass(frozen=True, eq=False)
class UnitTable:
    """Per unit (0-based rows): preferred phone (index into ``phones``), PSI for it (-1:
    not known), pattern entropy in bits; ``patterns`` is units x phones or None."""

    layer: int
    phones: tuple[str, ...]
    preferred: np.ndarray
    psi: np.ndarray
    entropy: np.ndarray
    patterns: np.ndarray | None
    source: Path

    @property
    def num_units(self) -> int:
        return self.preferred.shape[0]

    @functools.cached_property
    def _columns(self) -> dict[str, int]:
        return {phone_key(p): i for i, p in reversed(list(enumerate(self.phones)))}

    @functools.cached_property
    def _units_of(self) -> list[np.ndarray]:
        order = np.argsort(self.preferred, kind="stable")
        bounds = np.searchsorted(self.preferred[order], np.arange(len(self.phones) + 1))
        return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def phone_index(self, name: str) -> int | None:
        """The column of phone ``name`` (compared by :func:`phone_key`), or None."""
        return self._columns.get(phone_key(name))

    def units_preferring(self, name: str) -> np.ndarray:
        """0-based units whose preferred phone is ``name`` (empty when none or unknown)."""
        i = self.phone_index(name)
        return self._units_of[i] if i is not None else np.zeros(0, np.intp)


def read_unit_table(directory: str | os.PathLike, layer: int, units: int) -> UnitTable | None:
    """The table of ``directory`` (an ``lda/K``), checked against the map's ``units``; None
    when there is no ``units.csv``."""
    d = Path(directory)
    csv = d / "units.csv"
    if not csv.is_file():
        return None
    rows = _rows(csv)
    if len(rows) != units:
        raise FormatError(f"{csv}: {len(rows)} units for a map of {units}; rebuild the map "
                          f"with deepbrain build-map")
    phones = _phones(d / "summary.json", rows)
    index = {p: i for i, p in enumerate(phones)}
    preferred = np.empty(units, np.intp)
    psi = np.empty(units, np.int64)
    entropy = np.empty(units, np.float64)
    for n, (unit, name, psi_text, ent_text) in enumerate(rows):
        line = n + 2
        if unit != str(n + 1):
            raise FormatError(f"{csv}: line {line} is unit {unit[:20]!r}, expected {n + 1} "
                              f"(units are numbered 1..N in order)")
        if name not in index:
            raise FormatError(f"{csv}: line {line}: preferred phone {name[:20]!r} is not among "
                              f"the phones of {d / 'summary.json'}")
        preferred[n] = index[name]
        try:
            psi[n] = int(psi_text) if psi_text else -1
            entropy[n] = float(ent_text)
        except ValueError:
            raise FormatError(f"{csv}: line {line}: psi and entropy_bits must be numbers, "
                              f"found {psi_text[:20]!r} {ent_text[:20]!r}") from None
        if psi[n] < -1 or not math.isfinite(entropy[n]) or entropy[n] < 0:
            raise FormatError(f"{csv}: line {line}: psi must be >= 0 (or empty) and "
                              f"entropy_bits finite and >= 0")
    patterns = _patterns(d / "activities", units, len(phones))
    return UnitTable(layer, phones, preferred, psi, entropy, patterns, csv)


def _rows(csv: Path) -> list[tuple[str, str, str, str]]:
    try:
        lines = csv.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{csv}: cannot be read as UTF-8 text ({e})") from None
    if not lines or lines[0].strip() != HEADER:
        raise FormatError(f"{csv}: the first line must be {HEADER!r} (as deepbrain build-map "
                          f"writes it)")
    rows = []
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != 6:
            raise FormatError(f"{csv}: line {n} has {len(parts)} fields, expected 6 ({HEADER})")
        rows.append((parts[0].strip(), parts[3].strip(), parts[4].strip(), parts[5].strip()))
    return rows


def _phones(summary: Path, rows) -> tuple[str, ...]:
    """The pattern columns from summary.json; without it, the preferred phones as met."""
    if not summary.is_file():
        return tuple(dict.fromkeys(r[1] for r in rows))
    try:
        phones = json.loads(summary.read_text(encoding="utf-8"))["phones"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise FormatError(f"{summary}: expected JSON with a 'phones' list ({e})") from None
    if not isinstance(phones, list) or not phones or \
            not all(isinstance(p, str) and p for p in phones) or len(set(phones)) != len(phones):
        raise FormatError(f"{summary}: 'phones' must be a list of distinct phone names")
    return tuple(phones)


def _patterns(path: Path, units: int, phones: int) -> np.ndarray | None:
    """The activity patterns, or None without the file; NaN marks phones without frames."""
    if not path.is_file():
        return None
    try:
        rows = [line.split() for line in path.read_text(encoding="ascii").splitlines()
                if line.strip()]
        m = np.array(rows, dtype=np.float64)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"{path}: not a units x phones text matrix ({type(e).__name__})") \
            from None
    if m.shape != (units, phones):
        raise FormatError(f"{path}: is {'x'.join(map(str, m.shape))}, expected {units} units x "
                          f"{phones} phones")
    if np.isinf(m).any():
        raise FormatError(f"{path}: holds infinite values")
    return m
