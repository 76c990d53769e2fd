"""Phone regions on a layer's map: where each phone lives, and whether the activity is there.

A phone's **region** is the set of units that prefer it (``units.csv``). On the map it is
the part of the Delaunay mesh nearer to those units than to others: its outline crosses each
mesh edge between a unit of the phone and one of another at the edge's midpoint (marching
triangles on the per-unit labels), so scattered units give small islands and a phone whose
units sit together gives one outlined area.

Drawn for all phones at once, that mosaic has an island around every lone unit; the map of
all regions is therefore drawn from labels smoothed by a majority vote of mesh neighbours
(:func:`smooth_labels`): where a phone's units sit together, as the paper's figures show
regions. The region of the phone being spoken, and the score, use the units as they are.

The **region score** of a layer at a frame is how much more the units preferring the phone
being spoken fire than the layer as a whole::

    score(t) = mean_{u in R(p_t)} (a_t,u - floor) / mean_u (a_t,u - floor)

with ``floor`` the least value the nonlinearity gives (0 for sigmoid and ReLU, -1 for tanh),
so 1 means "no more than the layer", 2 "twice as active". Frames without a phone, with a
phone no unit prefers (silence, when the maps left it out) or a silent layer get NaN. It is
computed for a whole utterance at once: a few microseconds a frame (``make bench``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .errors import DeepbrainError
from .maps.units import UnitTable
from .segments import PhoneSegment

MIN_LABEL_UNITS = 3   # a phone is labelled where at least this many of its units touch


# -- geometry --------------------------------------------------------------------------------

def region_outline(vertices: np.ndarray, triangles: np.ndarray, inside: np.ndarray,
                   rim: np.ndarray | None = None) -> np.ndarray:
    """Segments (n x 2 x 2, map coordinates) outlining the units flagged ``inside``: inside
    the mesh through edge midpoints, and along the mesh's rim where the region meets it
    (``rim``: :func:`mesh_rim` of the triangles, when it is at hand)."""
    v = np.asarray(vertices, np.float64)
    t = np.asarray(triangles, np.int64)
    m = np.asarray(inside, bool)[t]
    count = m.sum(axis=1)
    cross = (count == 1) | (count == 2)
    tc, mc = t[cross], m[cross]
    # the odd vertex: the one on its own side of the outline
    odd = np.where(count[cross] == 1, np.argmax(mc, axis=1), np.argmin(mc, axis=1))
    rows = np.arange(tc.shape[0])
    o = tc[rows, odd]
    a = tc[rows, (odd + 1) % 3]
    b = tc[rows, (odd + 2) % 3]
    inner = np.stack([(v[o] + v[a]) / 2, (v[o] + v[b]) / 2], axis=1)
    rim = mesh_rim(t) if rim is None else rim
    return np.concatenate([inner, _rim_part(v, rim, np.asarray(inside, bool))])


def mesh_rim(triangles: np.ndarray) -> np.ndarray:
    """The mesh's outer edges (those of one triangle only), n x 2 unit pairs."""
    t = np.asarray(triangles, np.int64)
    edges = np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), axis=1)
    uniq, counts = np.unique(edges, axis=0, return_counts=True)
    return uniq[counts == 1]


def _rim_part(v: np.ndarray, rim: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The parts of the rim's edges inside the region."""
    i, j = rim[:, 0], rim[:, 1]
    both = inside[i] & inside[j]
    one = inside[i] ^ inside[j]
    start = np.where(inside[i], i, j)[one]
    end = np.where(inside[i], j, i)[one]
    full = np.stack([v[i[both]], v[j[both]]], axis=1)
    half = np.stack([v[start], (v[start] + v[end]) / 2], axis=1)
    return np.concatenate([full, half]).reshape(-1, 2, 2)


def mosaic_outline(vertices: np.ndarray, triangles: np.ndarray, labels: np.ndarray
                   ) -> np.ndarray:
    """Segments (n x 2 x 2) between the regions of all phones at once: a triangle with two
    labels is cut through the midpoints of its two mixed edges, one with three labels from
    each edge's midpoint to its centroid."""
    v = np.asarray(vertices, np.float64)
    t = np.asarray(triangles, np.int64)
    lab = np.asarray(labels)[t]
    same = np.stack([lab[:, 1] == lab[:, 2], lab[:, 2] == lab[:, 0],
                     lab[:, 0] == lab[:, 1]], axis=1)   # same[:, k]: the pair opposite k
    pairs = same.sum(axis=1)
    two = pairs == 1
    odd = np.argmax(same[two], axis=1)                  # the vertex opposite the equal pair
    tt = t[two]
    rows = np.arange(tt.shape[0])
    o, a, b = tt[rows, odd], tt[rows, (odd + 1) % 3], tt[rows, (odd + 2) % 3]
    cut = np.stack([(v[o] + v[a]) / 2, (v[o] + v[b]) / 2], axis=1)
    three = t[pairs == 0]
    centre = v[three].mean(axis=1)
    spokes = [np.stack([(v[three[:, i]] + v[three[:, (i + 1) % 3]]) / 2, centre], axis=1)
              for i in range(3)]
    return np.concatenate([cut, *spokes]).reshape(-1, 2, 2)


def smooth_labels(triangles: np.ndarray, labels: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Each unit's label after ``rounds`` majority votes among itself and its mesh
    neighbours (a tie keeps its own): where a phone's units sit together, as the paper's
    figures outline regions, without an island around every lone unit."""
    from .colouring import neighbour_matrix

    lab = np.asarray(labels, np.int64).copy()
    n = lab.shape[0]
    if n == 0:
        return lab
    vote = neighbour_matrix(triangles, n) + sp.identity(n, format="csr")
    classes = int(lab.max()) + 1
    rows = np.arange(n)
    for _ in range(rounds):
        onehot = sp.csr_matrix((np.ones(n), (rows, lab)), shape=(n, classes))
        counts = (vote @ onehot).toarray()
        best = np.argmax(counts, axis=1)
        lab = np.where(counts[rows, best] > counts[rows, lab], best, lab)
    return lab


@dataclass(frozen=True)
class RegionLabel:
    phone: str
    position: tuple[float, float]   # map coordinates
    units: int                      # units in the labelled piece


def region_labels(vertices: np.ndarray, triangles: np.ndarray, labels: np.ndarray,
                  names: Sequence[str], least: int = MIN_LABEL_UNITS) -> list[RegionLabel]:
    """One label per phone (``labels``: a class index per unit into ``names``), on the
    unit of its largest connected piece nearest the piece's centroid (so it sits among the
    phone's own units); phones whose largest piece has fewer than ``least`` units are not
    labelled."""
    v = np.asarray(vertices, np.float64)
    t = np.asarray(triangles, np.int64)
    lab = np.asarray(labels)
    n = v.shape[0]
    i = np.concatenate([t[:, 0], t[:, 1], t[:, 2]])
    j = np.concatenate([t[:, 1], t[:, 2], t[:, 0]])
    keep = lab[i] == lab[j]                              # edges within one phone's region
    graph = sp.coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    out = []
    for c, phone in enumerate(names):
        units = np.flatnonzero(lab == c)
        if units.size < least:
            continue
        pieces, sizes = np.unique(comp[units], return_counts=True)
        if sizes.max() < least:
            continue
        piece = units[comp[units] == pieces[np.argmax(sizes)]]
        centre = v[piece].mean(axis=0)
        anchor = piece[np.argmin(np.linalg.norm(v[piece] - centre, axis=1))]
        out.append(RegionLabel(phone, (float(v[anchor, 0]), float(v[anchor, 1])),
                               int(piece.size)))
    return out


# -- the region score ------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class RegionScore:
    """One layer's region score over an utterance: per frame (NaN where undefined) and its
    mean over the frames that have one (NaN when none has)."""

    layer: int
    per_frame: np.ndarray
    mean: float


def region_score(layer_acts: np.ndarray, table: UnitTable, segments: Sequence[PhoneSegment],
                 floor: float = 0.0) -> RegionScore:
    """The region score of one layer (``layer_acts``: frames x units) for the phones
    ``segments`` say are spoken; segments past the last frame are cut."""
    acts = np.asarray(layer_acts)
    if acts.ndim != 2 or acts.shape[1] != table.num_units:
        raise DeepbrainError(f"layer {table.layer}: activations of shape {acts.shape} for a "
                             f"unit table of {table.num_units} units")
    frames = acts.shape[0]
    per_frame = np.full(frames, np.nan)
    layer_mean = acts.mean(axis=1, dtype=np.float64) - floor
    for seg in segments:
        s, e = max(seg.start, 0), min(seg.end, frames)
        units = table.units_preferring(seg.phone)
        if e <= s or units.size == 0:
            continue
        region = acts[s:e, units].mean(axis=1, dtype=np.float64) - floor
        den = layer_mean[s:e]
        ok = den > 1e-12
        per_frame[s:e][ok] = region[ok] / den[ok]
    have = ~np.isnan(per_frame)
    mean = float(per_frame[have].mean()) if have.any() else float("nan")
    return RegionScore(table.layer, per_frame, mean)


def region_scores(layers: Mapping[int, np.ndarray], tables: Mapping[int, UnitTable],
                  segments: Sequence[PhoneSegment], floors: Mapping[int, float] | None = None
                  ) -> dict[int, RegionScore]:
    """:func:`region_score` for every layer that has both activations and a unit table.

    From a script::

        model = load_model("models/demo")
        tables = load_unit_tables(model)
        acts = ...  # an Activations, e.g. from compute_activations
        scores = region_scores(acts.layers, tables, read_ctm("phones.ctm")[acts.utt_id])
    """
    floors = floors or {}
    return {k: region_score(layers[k], tables[k], segments, floors.get(k, 0.0))
            for k in sorted(layers) if k in tables}


def load_unit_tables(model) -> dict[int, UnitTable]:
    """The unit tables of every mapped layer of ``model`` that has one."""
    from .maps.units import read_unit_table

    out = {}
    for k, m in model.maps.items():
        table = read_unit_table(model.path / "lda" / str(k), k, m.num_units)
        if table is not None:
            out[k] = table
    return out
