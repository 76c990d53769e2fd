"""Activations -> vertex colours, one frame at a time (the seed's colouring, vectorised).

The seed's GUI (``deepbrain.py`` of DNN-Activation-Brain) coloured each frame of a layer so:

1. divide the frame by its largest value;
2. smooth every unit with its mesh neighbours N(j) (the units it shares a triangle with),
   ``s_j = ((1 - a) x_j + a * sum_{k in N(j)} x_k) / (1 - a + a |N(j)|)`` with a = 0.5;
3. min-max scale the frame to [0, 1] and look it up in matplotlib's 256-entry "jet".

Step 2 is one sparse matrix-vector product here (the matrix is built once per map), so a
frame of 2048 units costs tens of microseconds. Colours are made per frame on demand and
never kept for a whole utterance: an hour of audio needs no gigabytes of colours.

Also offered: an absolute scale (no per-frame normalisation; the layer's natural range, e.g.
[0, 1] for sigmoid outputs), smoothing off (a = 0) or another a, and viridis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import scipy.sparse as sp

from .errors import DeepbrainError
from .layermap import LayerMap

COLORMAPS = ("jet", "viridis")
SCALES = ("frame", "absolute")
LUT_SIZE = 256

# matplotlib's jet (_cm._jet_data): (x, value) knots per channel, linear between them.
_JET = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}
# matplotlib's viridis (CC0) at 33 of its 256 entries; linear interpolation between them stays
# within 2/255 of the full table.
_VIRIDIS = (
    (0.2670, 0.0049, 0.3294), (0.2770, 0.0503, 0.3757), (0.2823, 0.0950, 0.4173),
    (0.2829, 0.1359, 0.4534), (0.2788, 0.1755, 0.4834), (0.2706, 0.2141, 0.5071),
    (0.2590, 0.2515, 0.5247), (0.2450, 0.2877, 0.5373), (0.2297, 0.3224, 0.5457),
    (0.2143, 0.3556, 0.5512), (0.1994, 0.3876, 0.5546), (0.1856, 0.4186, 0.5568),
    (0.1727, 0.4488, 0.5579), (0.1607, 0.4785, 0.5581), (0.1490, 0.5081, 0.5573),
    (0.1378, 0.5375, 0.5549), (0.1276, 0.5669, 0.5506), (0.1211, 0.5927, 0.5446),
    (0.1201, 0.6222, 0.5349), (0.1301, 0.6514, 0.5216), (0.1539, 0.6802, 0.5042),
    (0.1911, 0.7084, 0.4823), (0.2394, 0.7356, 0.4557), (0.2965, 0.7616, 0.4242),
    (0.3607, 0.7860, 0.3878), (0.4310, 0.8085, 0.3465), (0.5063, 0.8288, 0.3004),
    (0.5857, 0.8467, 0.2499), (0.6681, 0.8620, 0.1963), (0.7519, 0.8750, 0.1432),
    (0.8353, 0.8860, 0.1026), (0.9162, 0.8961, 0.1007), (0.9932, 0.9062, 0.1439),
)
_VIRIDIS_X = np.round(np.linspace(0, LUT_SIZE - 1, len(_VIRIDIS))) / (LUT_SIZE - 1)

# Value ranges of the nonlinearities whose outputs are bounded (for the absolute scale).
NATURAL_RANGES = {"<Sigmoid>": (0.0, 1.0), "<Softmax>": (0.0, 1.0), "<Tanh>": (-1.0, 1.0)}


@dataclass(frozen=True)
class ColourOptions:
    """How frames become colours. The defaults are the seed's."""

    colormap: str = "jet"
    scale: str = "frame"   # "frame": per-frame max and min-max (the seed); "absolute"
    alpha: float = 0.5     # neighbour smoothing weight; 0 turns smoothing off

    def __post_init__(self):
        if self.colormap not in COLORMAPS:
            raise DeepbrainError(f"unknown colormap {self.colormap!r}; choose one of "
                                 f"{', '.join(COLORMAPS)}")
        if self.scale not in SCALES:
            raise DeepbrainError(f"unknown colour scale {self.scale!r}; choose one of "
                                 f"{', '.join(SCALES)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise DeepbrainError(f"smoothing alpha must be in [0, 1], got {self.alpha}")


def colormap_lut(name: str) -> np.ndarray:
    """The colormap as a LUT_SIZE x 4 float32 RGBA table (alpha 1)."""
    x = np.linspace(0.0, 1.0, LUT_SIZE)
    if name == "jet":
        rgb = [np.interp(x, *zip(*_JET[c])) for c in ("red", "green", "blue")]
    elif name == "viridis":
        rgb = [np.interp(x, _VIRIDIS_X, [v[c] for v in _VIRIDIS]) for c in range(3)]
    else:
        raise DeepbrainError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    return np.stack(rgb + [np.ones(LUT_SIZE)], axis=1).astype(np.float32)


def lut_index(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> LUT rows, as matplotlib does (floor(v * N), 1.0 -> N - 1)."""
    index = (values * LUT_SIZE).astype(np.intp)
    return np.clip(index, 0, LUT_SIZE - 1, out=index)


def neighbour_matrix(triangles: np.ndarray, num_units: int) -> sp.csr_matrix:
    """A[j, k] = 1 when units j != k share a triangle (symmetric, no diagonal)."""
    t = np.asarray(triangles, dtype=np.int64)
    rows = np.concatenate([t[:, 0], t[:, 1], t[:, 2], t[:, 1], t[:, 2], t[:, 0]])
    cols = np.concatenate([t[:, 1], t[:, 2], t[:, 0], t[:, 0], t[:, 1], t[:, 2]])
    a = sp.coo_matrix((np.ones(rows.shape[0]), (rows, cols)), shape=(num_units, num_units))
    a = a.tocsr()
    a.data[:] = 1.0  # an edge shared by two triangles counts once (the seed's set of neighbours)
    a.setdiag(0)
    a.eliminate_zeros()
    return a


def smoothing_matrix(triangles: np.ndarray, num_units: int, alpha: float) -> sp.csr_matrix:
    """S with S @ x = the seed's smoothed frame; a unit in no triangle keeps its value."""
    a = neighbour_matrix(triangles, num_units)
    degree = np.asarray(a.sum(axis=1)).ravel()
    norm = 1.0 / (1.0 - alpha + alpha * degree)
    s = sp.csr_matrix(sp.diags(norm * (1.0 - alpha)) + sp.diags(norm * alpha) @ a,
                      dtype=np.float64)
    s.sort_indices()  # a fixed summation order: the same sums however the matrix is stacked
    return s


def natural_range(marker: str, activations: np.ndarray) -> tuple[float, float]:
    """The absolute scale's range: the nonlinearity's own when bounded (sigmoid [0, 1],
    tanh [-1, 1]), else the utterance's min and max for that layer."""
    if marker in NATURAL_RANGES:
        return NATURAL_RANGES[marker]
    lo, hi = float(np.min(activations)), float(np.max(activations))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


class LayerColourer:
    """One layer's frame -> per-vertex RGBA, for one map and one set of options."""

    def __init__(self, layer_map: LayerMap, options: ColourOptions = ColourOptions(),
                 value_range: tuple[float, float] = (0.0, 1.0)):
        n = layer_map.num_units
        self.options = options
        self.value_range = value_range
        self._smooth = smoothing_matrix(layer_map.triangles, n, options.alpha) \
            if options.alpha > 0 else None
        self._lut = colormap_lut(options.colormap)
        self._out = np.empty((n, 4), dtype=np.float32)

    def values(self, frame: np.ndarray) -> np.ndarray:
        """The frame as numbers in [0, 1] (what the colormap is indexed with)."""
        x = np.asarray(frame, dtype=np.float64)
        if self.options.scale == "frame":
            # The seed divides by the frame's max; its largest magnitude is the same for
            # sigmoid outputs and keeps a frame of negative tanh outputs from flipping.
            peak = np.max(np.abs(x))
            if peak > 0:
                x = x * (1.0 / peak)
        s = self._smooth @ x if self._smooth is not None else x
        if self.options.scale == "frame":
            lo, hi = s.min(), s.max()
        else:
            lo, hi = self.value_range
        if hi <= lo:
            return np.zeros_like(s)
        v = s - lo
        v *= 1.0 / (hi - lo)
        return v if self.options.scale == "frame" else np.clip(v, 0.0, 1.0, out=v)

    def colours(self, frame: np.ndarray) -> np.ndarray:
        """units x 4 float32 RGBA; the returned array is reused by the next call."""
        return np.take(self._lut, lut_index(self.values(frame)), axis=0, out=self._out)


class FrameColours:
    """The colours of any frame of an utterance, made when asked for (nothing is cached but
    the last frame's buffers).

    ``layers`` holds the utterance's activations whole (frames x units each); an utterance
    whose frames are computed around the playhead is coloured a frame's rows at a time
    (:meth:`for_units`, :meth:`colour_rows`)."""

    def __init__(self, maps: Mapping[int, LayerMap], layers: Mapping[int, np.ndarray],
                 options: ColourOptions = ColourOptions(),
                 markers: Mapping[int, str] | None = None):
        markers = markers or {}
        ranges = {k: natural_range(markers.get(k, ""), a) for k, a in layers.items()} \
            if options.scale == "absolute" else {}
        self._setup(maps, {k: a.shape[1] for k, a in layers.items()},
                    min((a.shape[0] for a in layers.values()), default=0), options, ranges)
        self.layers = layers

    @classmethod
    def for_units(cls, maps: Mapping[int, LayerMap], units: Mapping[int, int],
                  num_frames: int, options: ColourOptions = ColourOptions(),
                  markers: Mapping[int, str] | None = None,
                  seen: Mapping[int, tuple[float, float]] | None = None) -> "FrameColours":
        """Colours for rows given one frame at a time; the absolute scale of a layer without
        a natural range is the range ``seen`` so far (widened by :meth:`widen`)."""
        self = cls.__new__(cls)
        markers, seen = markers or {}, seen or {}
        ranges = {k: NATURAL_RANGES.get(markers.get(k, ""), _range(seen.get(k)))
                  for k in units} if options.scale == "absolute" else {}
        self._setup(maps, units, num_frames, options, ranges)
        self.layers = None
        self._natural = {k for k in units if markers.get(k, "") in NATURAL_RANGES}
        self._seen = {k: tuple(r) for k, r in seen.items() if k in units}
        return self

    def _setup(self, maps, units: Mapping[int, int], num_frames: int, options: ColourOptions,
               ranges: Mapping[int, tuple[float, float]]) -> None:
        missing = [k for k in units if k not in maps]
        if missing:
            raise DeepbrainError(f"layer(s) {', '.join(map(str, missing))} have activations "
                                 f"but no map (lda/K/vertices and indices)")
        self.units = dict(units)
        self.options = options
        self.num_frames = num_frames
        self._colourers = {k: LayerColourer(maps[k], options, ranges.get(k, (0.0, 1.0)))
                           for k in units}
        self._natural = set(units)
        self._seen: dict[int, tuple[float, float]] = {}
        self._batch_ready = False

    def value_range(self, layer: int) -> tuple[float, float]:
        return self._colourers[layer].value_range

    def widen(self, seen: Mapping[int, tuple[float, float]]) -> bool:
        """The absolute scale of layers without a natural range, widened to ``seen`` (the
        values computed so far); whether anything changed."""
        if self.options.scale != "absolute":
            return False
        changed = False
        for k, r in seen.items():
            if k in self._natural or k not in self._colourers:
                continue
            old = self._seen.get(k)
            merged = r if old is None else (min(old[0], r[0]), max(old[1], r[1]))
            if merged != old:
                self._seen[k] = merged
                self._colourers[k].value_range = _range(merged)
                changed = True
        if changed:
            self._batch_ready = False
        return changed

    def frame(self, layer: int, index: int) -> np.ndarray:
        """units x 4 RGBA of ``layer`` at frame ``index`` (0-based)."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame {index} outside 0..{self.num_frames - 1}")
        return self._colourers[layer].colours(self.layers[layer][index])

    def frame_all(self, index: int) -> dict[int, np.ndarray]:
        """Every layer's RGBA at frame ``index``, computed together (one sparse product over
        a block-diagonal matrix instead of one per layer; the same numbers as :meth:`frame`).
        The arrays are views of one buffer that the next call reuses."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame {index} outside 0..{self.num_frames - 1}")
        return self.colour_rows({k: self.layers[k][index] for k in self.units})

    def colour_rows(self, rows: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
        """:meth:`frame_all` of one frame's rows (every layer's, as given)."""
        if not self._batch_ready:
            self._prepare_batch()
        x = self._x
        for k, a, b in self._segments:
            x[a:b] = rows[k]
        if self.options.scale == "frame":
            peak = np.maximum.reduceat(np.abs(x), self._starts)
            peak[peak <= 0] = 1.0
            x = x * np.repeat(1.0 / peak, self._sizes)
        s = self._smooth @ x if self._smooth is not None else x
        if self.options.scale == "frame":
            lo, hi = np.minimum.reduceat(s, self._starts), np.maximum.reduceat(s, self._starts)
        else:
            lo, hi = self._lo, self._hi
        span = hi - lo
        flat = span <= 0
        span[flat] = 1.0
        v = (s - np.repeat(lo, self._sizes)) * np.repeat(1.0 / span, self._sizes)
        if flat.any():
            v[np.repeat(flat, self._sizes)] = 0.0
        if self.options.scale != "frame":
            np.clip(v, 0.0, 1.0, out=v)
        np.take(self._lut, lut_index(v), axis=0, out=self._out)
        return {k: self._out[a:b] for k, a, b in self._segments}

    def _prepare_batch(self) -> None:
        ks = list(self.units)
        self._sizes = np.array([self.units[k] for k in ks])
        self._starts = np.concatenate([[0], np.cumsum(self._sizes)[:-1]]).astype(np.intp)
        ends = self._starts + self._sizes
        self._segments = [(k, int(a), int(b)) for k, a, b in zip(ks, self._starts, ends)]
        blocks = [self._colourers[k]._smooth for k in ks]
        self._smooth = None
        if self.options.alpha > 0:
            self._smooth = sp.csr_matrix(sp.block_diag(blocks, format="csr"))
            self._smooth.sort_indices()
        self._lo = np.array([self._colourers[k].value_range[0] for k in ks], dtype=np.float64)
        self._hi = np.array([self._colourers[k].value_range[1] for k in ks], dtype=np.float64)
        total = int(self._sizes.sum())
        self._x = np.empty(total, dtype=np.float64)
        self._out = np.empty((total, 4), dtype=np.float32)
        self._lut = colormap_lut(self.options.colormap)
        self._batch_ready = True


def _range(r: tuple[float, float] | None) -> tuple[float, float]:
    """A usable scale from a seen range (none yet: [0, 1])."""
    if r is None:
        return (0.0, 1.0)
    lo, hi = float(r[0]), float(r[1])
    return (lo, hi) if hi > lo else (lo, lo + 1.0)
