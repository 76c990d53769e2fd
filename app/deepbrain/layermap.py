"""A hidden layer's 2-D map: one point per unit and the Delaunay triangles over them.

On disk (the seed's form, kept byte-compatible): ``lda/K/vertices``, one line
``" x y"`` per unit (each number ``" %.8e"``), and ``lda/K/indices``, one line ``"i j k"``
per triangle with **1-based** vertex numbers. In memory triangles are 0-based.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FormatError


@dataclass(frozen=True, eq=False)
class LayerMap:
    layer: int
    vertices: np.ndarray   # units x 2, float64
    triangles: np.ndarray  # triangles x 3, int64, 0-based

    @property
    def num_units(self) -> int:
        return self.vertices.shape[0]


def _read_numbers(path: Path, columns: int, kind: type) -> np.ndarray:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise FormatError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: cannot be read as text ({e})") from None
    rows = [line.split() for line in text.splitlines() if line.strip()]
    for n, row in enumerate(rows, 1):
        if len(row) != columns:
            raise FormatError(f"{path}: line {n} has {len(row)} numbers, expected {columns}")
    try:
        values = np.array(rows, dtype=np.float64).reshape(len(rows), columns)
    except ValueError:
        raise FormatError(f"{path}: holds something that is not a number") from None
    if not np.all(np.isfinite(values)):
        raise FormatError(f"{path}: holds NaN or infinite values")
    if kind is int:
        if not np.all(values == np.round(values)):
            raise FormatError(f"{path}: vertex numbers must be whole numbers")
        return values.astype(np.int64)
    return values


def read_layer_map(directory: str | os.PathLike, layer: int,
                   units: int | None = None) -> LayerMap:
    """Read ``directory/vertices`` and ``directory/indices`` and check them against each other
    and, when ``units`` is given, against the layer's number of units."""
    d = Path(directory)
    vertices = _read_numbers(d / "vertices", 2, float)
    if vertices.shape[0] == 0:
        raise FormatError(f"{d / 'vertices'}: no vertices")
    if units is not None and vertices.shape[0] != units:
        raise FormatError(f"{d / 'vertices'}: {vertices.shape[0]} vertices for layer {layer}, "
                          f"which has {units} units")
    indices = _read_numbers(d / "indices", 3, int)
    if indices.shape[0] == 0:
        raise FormatError(f"{d / 'indices'}: no triangles; rebuild the map")
    bad = (indices < 1) | (indices > vertices.shape[0])
    if bad.any():
        row = int(np.argwhere(bad)[0][0]) + 1
        raise FormatError(f"{d / 'indices'}: line {row} names vertex "
                          f"{int(indices[bad][0])}, outside 1..{vertices.shape[0]} "
                          f"(indices are 1-based)")
    return LayerMap(layer, vertices, indices - 1)


def write_layer_map(layer_map: LayerMap, directory: str | os.PathLike) -> None:
    """Write in the seed's text form, each file atomically."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    _write_atomic(d / "vertices", "".join(f" {x:.8e} {y:.8e}\n" for x, y in layer_map.vertices))
    _write_atomic(d / "indices", "".join(f"{i} {j} {k}\n" for i, j, k in layer_map.triangles + 1))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="ascii")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
