"""Forward computation of an nnet3 network over frame times, as ``nnet3-compute`` does it.

``nnet3-compute`` (``DecodableNnetSimple``) cuts an utterance into chunks of
``--frames-per-chunk`` output frames (50; rounded up to a multiple of the network's modulus).
For each chunk it asks for the output at those frames, gives the input from ``left_context``
frames before to ``right_context`` after (frames outside the utterance repeat the first or
last frame), one i-vector for the whole chunk (the online i-vector of the chunk's middle
frame), and computes what is computable from that: ``IfDefined`` terms outside the window are
zero. We do the same, per chunk, so the values match Kaldi's at every frame. A network with no
i-vector and no ``IfDefined``/``Failover`` gives the same values whatever the chunks, and is
then computed in larger chunks (fewer recomputed context frames).

A node's values over a run of frames are a :class:`Track`: the rows and a mask of which frames
are computable. A first pass goes back from the requested nodes and frames to the frames
each node is needed at; a second computes the nodes in order over those frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from ..errors import FormatError

if TYPE_CHECKING:
    from .network import Nnet3

F32 = np.float32
INVARIANT_CHUNK = 512  # frames a chunk when chunking cannot change the values
MAX_WINDOW = 800  # ComputeSimpleNnetContext gives up beyond this


@dataclass
class Track:
    """Rows for frames ``start .. start + len(ok) - 1`` (``data`` is None when only
    computability is asked) and which of them are computable."""

    start: int
    data: Optional[np.ndarray]
    ok: np.ndarray

    def at(self, times: np.ndarray) -> tuple[Optional[np.ndarray], np.ndarray]:
        idx = times - self.start
        inside = (idx >= 0) & (idx < self.ok.size)
        ok = np.zeros(times.shape, bool)
        ok[inside] = self.ok[idx[inside]]
        if self.data is None:
            return None, ok
        if inside.all():
            return self.data[idx], ok
        rows = np.zeros((times.size, self.data.shape[1]), F32)
        rows[inside] = self.data[idx[inside]]
        return rows, ok


def evaluate(net: "Nnet3", requests: dict[str, np.ndarray], inputs: dict[str, Track]
             ) -> dict[str, tuple[Optional[np.ndarray], np.ndarray]]:
    """Values and computability of the requested nodes (any kind, outputs too) at the
    requested frame times, given the input nodes' tracks."""
    hull = _demand(net, requests)
    keep = {n for n in requests if net.node(n).kind != "output"}
    for n in requests:
        if net.node(n).kind == "output":
            keep |= net.dependencies(n)
    users = {n: 0 for n in hull}
    for n in hull:
        for d in net.dependencies(n):
            users[d] = users.get(d, 0) + 1
    tracks: dict[str, Track] = {}

    def lookup(name: str, times: np.ndarray):
        return tracks[name].at(times)

    for name in net.order:
        if name not in hull:
            continue
        tracks[name] = _compute_node(net, name, hull[name], inputs, lookup, tracks)
        for d in net.dependencies(name):
            users[d] -= 1
            if users[d] == 0 and d not in keep:
                del tracks[d]
    out = {}
    for name, times in requests.items():
        node = net.node(name)
        out[name] = node.descriptor.evaluate(times, lookup) if node.kind == "output" \
            else lookup(name, times)
    return out


def _demand(net: "Nnet3", requests: dict[str, np.ndarray]) -> dict[str, tuple[int, int]]:
    """The first and last frame each node is needed at (Kaldi's dependencies, as a hull)."""
    need: dict[str, list[np.ndarray]] = {}
    for name, times in requests.items():
        node = net.node(name)
        if node.kind == "output":
            node.descriptor.demand(times, need)
        else:
            need.setdefault(name, []).append(times)
    hull = {}
    for name in reversed(net.order):
        if name not in need:
            continue
        times = [t for t in need.pop(name) if t.size]
        if not times:
            continue
        lo = int(min(t.min() for t in times))
        hi = int(max(t.max() for t in times))
        hull[name] = (lo, hi)
        node = net.node(name)
        if node.kind == "component":
            offs = net.components[node.component].time_offsets
            node.descriptor.demand(np.arange(lo + min(offs), hi + max(offs) + 1), need)
        elif node.kind == "dim-range":
            need.setdefault(node.source, []).append(np.arange(lo, hi + 1))
    return hull


def _compute_node(net, name, span, inputs, lookup, tracks) -> Track:
    lo, hi = span
    times = np.arange(lo, hi + 1)
    node = net.node(name)
    if node.kind == "input":
        given = inputs.get(name)
        if given is None:
            return Track(lo, None if _mask_only(inputs) else
                         np.zeros((times.size, node.dim), F32), np.zeros(times.size, bool))
        data, ok = given.at(times)
        return Track(lo, data, ok)
    if node.kind == "dim-range":
        data, ok = tracks[node.source].at(times)
        if data is not None:
            data = data[:, node.offset:node.offset + node.dim]
        return Track(lo, data, ok)
    comp = net.components[node.component]
    offs = comp.time_offsets
    x, ok = node.descriptor.evaluate(np.arange(lo + min(offs), hi + max(offs) + 1), lookup)
    if offs != (0,):
        rows = [np.arange(times.size) + (o - min(offs)) for o in offs]
        ok = np.logical_and.reduce([ok[r] for r in rows])
        if x is not None:
            x = np.concatenate([x[r] for r in rows], axis=1)
    if x is None:
        return Track(lo, None, ok)
    y = np.zeros((times.size, comp.output_dim), F32)
    if ok.any():
        y[ok] = comp.propagate(x[ok] if not ok.all() else x)
    return Track(lo, y, ok)


def _mask_only(inputs: dict[str, Track]) -> bool:
    return all(t.data is None for t in inputs.values())


# -- context ---------------------------------------------------------------------------------

def simple_context(net: "Nnet3", nodes: tuple[str, ...]) -> tuple[int, int]:
    """``ComputeSimpleNnetContext`` for an output Append(nodes): give the input on a window,
    see which output frames are computable, for every time shift up to the modulus."""
    window = 40
    while window < MAX_WINDOW:
        found = [_context_for_shift(net, nodes, start, window) for start in
                 range(net.modulus + 1)]
        if all(f is not None for f in found):
            return max(f[0] for f in found), max(f[1] for f in found)
        window *= 2
    raise FormatError(f"{net.source}: cannot work out the context of {', '.join(nodes)}: it is "
                      f"over {MAX_WINDOW} frames or never computable from 'input'")


def _context_for_shift(net, nodes, start, window):
    times = np.arange(start, start + window)
    inputs = {"input": Track(start, None, np.ones(window, bool))}
    if net.has_node("ivector"):
        inputs["ivector"] = Track(start - net.modulus, None, np.ones(window + net.modulus, bool))
    results = evaluate(net, {n: times for n in nodes}, inputs)
    ok = np.logical_and.reduce([results[n][1] for n in nodes])
    if not ok.any():
        return None
    first_ok = int(np.argmax(ok))
    bad = np.flatnonzero(~ok[first_ok:])
    first_not_ok = first_ok + (int(bad[0]) if bad.size else window - first_ok)
    return first_ok, window - first_not_ok


# -- nnet3-compute ---------------------------------------------------------------------------

def compute_nodes(net: "Nnet3", feats: np.ndarray, names: Sequence[str],
                  ivectors: Optional[np.ndarray], ivector_period: int,
                  frames_per_chunk: int) -> dict[str, np.ndarray]:
    """The nodes at every frame of ``feats``, chunk by chunk as ``nnet3-compute``."""
    feats = _as_matrix(feats, net.input_dim, "features", net.source)
    ivectors = _check_ivectors(net, ivectors, ivector_period)
    names = tuple(dict.fromkeys(names))
    num_frames = feats.shape[0]
    out = {n: np.zeros((num_frames, net.node_dim(n)), F32) for n in names}
    if num_frames == 0 or not names:
        return out
    if frames_per_chunk < 1:
        raise ValueError("frames_per_chunk must be positive")
    left, right = net.context(names)
    step = net.modulus * math.ceil(frames_per_chunk / net.modulus)
    if _chunk_invariant(net, names):
        step = net.modulus * math.ceil(max(step, INVARIANT_CHUNK) / net.modulus)
    for start in range(0, num_frames, step):
        end = min(num_frames, start + step)
        first = start - left
        rows = np.clip(np.arange(first, end + right), 0, num_frames - 1)
        # times relative to the chunk's first output frame, as Kaldi's shift_time
        inputs = {"input": Track(first - start, feats[rows], np.ones(rows.size, bool))}
        if ivectors is not None:
            vec = chunk_ivector(ivectors, start, end - 1, ivector_period, net.source)
            inputs["ivector"] = Track(0, vec[None, :], np.ones(1, bool))
        times = np.arange(end - start)
        results = evaluate(net, {n: times for n in names}, inputs)
        for n in names:
            data, ok = results[n]
            if not ok.all():  # the context says this cannot happen
                raise FormatError(f"{net.source}: node {n} is not computable at frames "
                                  f"{start + int(np.argmin(ok))}.. from the given input")
            out[n][start:end] = data
    return out


def chunk_ivector(ivectors: np.ndarray, first: int, last: int, period: int,
                  source: str = "") -> np.ndarray:
    """``GetCurrentIvector``: the online i-vector of the frame halfway through the chunk."""
    frame = first + (last - first) // 2
    index = frame // period
    if index >= ivectors.shape[0]:
        margin = index - (ivectors.shape[0] - 1)
        if margin * period > 50:
            raise FormatError(f"{source}: i-vectors cover {ivectors.shape[0]} x {period} frames "
                              f"but frame {frame} is asked for; mismatched i-vector period?")
        index = ivectors.shape[0] - 1
    return ivectors[index]


def _chunk_invariant(net: "Nnet3", names: Sequence[str]) -> bool:
    if net.has_node("ivector"):
        return False
    up = set(names)
    for n in names:
        up |= net.ancestors(n)
    kinds: set[str] = set()
    for n in up:
        d = net.node(n).descriptor
        if d is not None:
            kinds |= d.kinds()
    return not kinds & {"IfDefined", "Failover"}


def _as_matrix(x, dim: int, what: str, source: str) -> np.ndarray:
    x = np.asarray(x, dtype=F32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise FormatError(f"{source}: expects {dim}-dimensional {what}, got an array of shape "
                          f"{x.shape}; the model's front end does not match this network")
    return x


def _check_ivectors(net: "Nnet3", ivectors, period: int) -> Optional[np.ndarray]:
    if net.ivector_dim == 0:
        if ivectors is not None:
            raise FormatError(f"{net.source}: has no ivector input, but i-vectors were given")
        return None
    if ivectors is None:
        raise FormatError(f"{net.source}: needs {net.ivector_dim}-dimensional i-vectors (the "
                          f"model's ivector/ extractor, or --ivectors); none were given")
    ivectors = _as_matrix(ivectors, net.ivector_dim, "i-vectors", net.source)
    if ivectors.shape[0] == 0 or period < 1:
        raise FormatError(f"{net.source}: no i-vectors, or an i-vector period of {period}")
    return ivectors
