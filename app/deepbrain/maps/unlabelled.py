"""Maps without phone labels: units placed by how alike their activations move over time.

A model without phone labels (any Vosk model, most Kaldi models a user downloads) still gets
maps: each layer's units are placed by the Pearson correlation of their activation time
courses over a corpus, so units that rise and fall together sit together. The correlations
come from sums over all frames of all utterances (never all frames at once; jobs merge
exactly). The layout is t-SNE on the distance 1 - r (scikit-learn, ``metric="precomputed"``,
random initialisation from the seed) and Delaunay triangles as for labelled maps.

A unit that never changes over the corpus (a dead ReLU) has no correlation with anything: it
gets r = 0 with every other unit and is listed in the summary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import DeepbrainError
from ..layermap import LayerMap, write_layer_map
from .layout import delaunay, scale_axes

VARIANCE_FLOOR = 1e-12


@dataclass(eq=False)
class TimeCourseStats:
    """Per layer: frame count, sums and sums of products of the units' activations."""

    units: Mapping[int, int]  # layer -> number of units
    frames: int = 0
    sums: dict = field(init=False)
    products: dict = field(init=False)

    def __post_init__(self):
        self.sums = {k: np.zeros(u) for k, u in self.units.items()}
        self.products = {k: np.zeros((u, u)) for k, u in self.units.items()}

    def add(self, layers: Mapping[int, np.ndarray]) -> None:
        """One utterance: ``layers[k]`` is frames x units (the same frames in every layer)."""
        counts = {acts.shape[0] for acts in layers.values()}
        if len(counts) != 1 or set(layers) != set(self.units):
            raise ValueError("every layer of the statistics, with the same frames, is needed")
        for k, acts in layers.items():
            x = acts.astype(np.float64)
            self.sums[k] += x.sum(axis=0)
            self.products[k] += x.T @ x
        self.frames += counts.pop()

    def merge(self, other: "TimeCourseStats") -> None:
        if dict(other.units) != dict(self.units):
            raise ValueError("merging statistics of different layers")
        for k in self.sums:
            self.sums[k] += other.sums[k]
            self.products[k] += other.products[k]
        self.frames += other.frames

    def correlation(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """Units x units Pearson correlation, and which units are constant (r = 0 to all)."""
        if self.frames < 2:
            raise DeepbrainError(f"{self.frames} frame(s) are too few to correlate units")
        mean = self.sums[layer] / self.frames
        cov = self.products[layer] / self.frames - np.outer(mean, mean)
        var = np.diag(cov).copy()
        dead = var <= VARIANCE_FLOOR * max(1.0, float(np.abs(mean).max(initial=0.0)) ** 2)
        std = np.sqrt(np.where(dead, 1.0, var))
        r = np.clip(cov / np.outer(std, std), -1.0, 1.0)
        r[dead, :] = 0.0
        r[:, dead] = 0.0
        np.fill_diagonal(r, 1.0)
        return r, dead


def correlation_points(r: np.ndarray, seed: int, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE of the units on the distance 1 - r, axes scaled to [-0.9, 0.9]."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise DeepbrainError("map building needs scikit-learn: pip install -e '.[maps]'"
                             ) from None
    n = r.shape[0]
    if n <= 3 * perplexity:
        raise DeepbrainError(f"{n} units are too few for t-SNE with perplexity {perplexity:g} "
                             f"(it needs more than {3 * perplexity:g}); pass --perplexity "
                             f"{max(1, (n - 1) // 3)} or less")
    distance = np.clip(1.0 - r, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="random", metric="precomputed",
                learning_rate="auto", random_state=seed, method="barnes_hut", n_jobs=1)
    return scale_axes(tsne.fit_transform(distance))


def correlation_keeping(r: np.ndarray, points: np.ndarray, k: int = 10) -> float:
    """Mean share of each unit's k most correlated units that are among its k nearest on
    the map (1.0: the map keeps every neighbourhood)."""
    from scipy.spatial import cKDTree

    k = min(k, r.shape[0] - 1)
    masked = r.copy()
    np.fill_diagonal(masked, -np.inf)
    near_r = np.argsort(-masked, axis=1, kind="stable")[:, :k]
    near_m = cKDTree(points).query(points, k + 1)[1][:, 1:]
    return float(np.mean([np.intersect1d(a, b).size for a, b in zip(near_r, near_m)]) / k)


def unlabelled_layer_map(stats: TimeCourseStats, layer: int, seed: int = 0,
                         perplexity: float = 30.0, neighbours: int = 10
                         ) -> tuple[LayerMap, dict]:
    """The map of one layer from the time-course correlations, and its summary."""
    r, dead = stats.correlation(layer)
    points = correlation_points(r, seed, perplexity)
    off = r[~np.eye(r.shape[0], dtype=bool)]
    summary = {
        "layer": layer, "units": int(r.shape[0]), "frames": int(stats.frames),
        "method": "t-SNE on 1 - Pearson correlation of activation time courses (no labels)",
        "dead_units": [int(u) + 1 for u in np.flatnonzero(dead)],
        "mean_abs_correlation": round(float(np.abs(off).mean()), 4),
        "neighbour_keeping": round(correlation_keeping(r, points, neighbours), 4),
        "neighbours": neighbours, "seed": seed, "perplexity": perplexity,
    }
    return LayerMap(layer, points, delaunay(points)), summary


def write_unlabelled_layer(out: Path, lmap: LayerMap, summary: dict) -> None:
    """``vertices``, ``indices`` (the seed's form), ``units.csv`` and ``summary.json``."""
    write_layer_map(lmap, out)
    rows = ["unit,x,y"] + [f"{u + 1},{x:.6f},{y:.6f}" for u, (x, y) in enumerate(lmap.vertices)]
    (out / "units.csv").write_text("\n".join(rows) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
