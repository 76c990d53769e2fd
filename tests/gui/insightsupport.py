"""Helpers for the insight tests: the tiny mapped model given a phones.txt for its 10 outputs
and unit tables (units.csv, summary.json, activities, psi.png) as build-map writes them, with
phone regions that are whole areas of the map. (Not a conftest: imported by name.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from deepbrain.maps.units import HEADER
from deepbrain.segments import PhoneSegment, write_ctm
from guisupport import write_mapped_tiny_model

PHONES = ("sil", "aa", "iy", "s", "m", "t", "f", "n", "l", "ey")   # the tiny model's outputs
MAP_PHONES = PHONES[1:5]            # the phones the maps know (silence left out, as build-map)


def write_insight_model(directory: Path, psi_png: bool = True) -> Path:
    """The tiny model (32 sigmoid -> 24 tanh -> 10 softmax, maps for both layers) with a
    phones.txt and per layer a unit table whose regions are the map's four quadrants."""
    from deepbrain.layermap import read_layer_map

    write_mapped_tiny_model(directory)
    (directory / "phones.txt").write_text("".join(f"{p} {i}\n" for i, p in enumerate(PHONES)))
    for k, units in ((1, 32), (2, 24)):
        d = directory / "lda" / str(k)
        v = read_layer_map(d, k, units).vertices
        preferred = quadrant(v)
        rows = [HEADER] + [f"{u + 1},{x:.6f},{y:.6f},{MAP_PHONES[p]},{20 + u % 3},"
                           f"{1.5 + 0.01 * u:.4f}" for u, ((x, y), p) in
                           enumerate(zip(v, preferred))]
        (d / "units.csv").write_text("\n".join(rows) + "\n")
        (d / "summary.json").write_text(json.dumps({"layer": k, "phones": list(MAP_PHONES)}))
        patterns = np.full((units, 4), 0.2)
        patterns[np.arange(units), preferred] = 1.0
        np.savetxt(d / "activities", patterns)
        if psi_png:
            from deepbrain.maps.plot import plot_psi
            psi = np.random.default_rng(k).integers(0, 3, (units, 4))
            plot_psi(psi, MAP_PHONES, d / "psi.png", f"layer {k}")
    return directory


def quadrant(v: np.ndarray) -> np.ndarray:
    """Phone index (into MAP_PHONES) of each unit: its quadrant of the map."""
    return (v[:, 0] > 0).astype(int) + 2 * (v[:, 1] > 0).astype(int)


def lane_segments(frames: int) -> list[PhoneSegment]:
    """sil, then the four map phones in equal turns, then sil."""
    edges = np.linspace(10, frames - 10, 5).astype(int)
    segs = [PhoneSegment("sil", 0, int(edges[0]))]
    segs += [PhoneSegment(p, int(a), int(b)) for p, a, b in zip(MAP_PHONES, edges, edges[1:])]
    return segs + [PhoneSegment("sil", int(edges[-1]), frames)]


def write_lane_ctm(path: Path, utt: str, frames: int) -> list[PhoneSegment]:
    segs = lane_segments(frames)
    write_ctm(path, {utt: segs})
    return segs
