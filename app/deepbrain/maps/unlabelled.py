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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DeepbrainError, ModelError
from ..layermap import LayerMap, write_layer_map
from ..pipeline import (
    CancelHook,
    Progress,
    ProgressHook,
    Request,
    Utterance,
    check_cancel,
    compute_activations,
    select_engine,
)
from .jobs import run_forked
from .layout import ITERATIONS, delaunay, make_tsne, one_thread, scale_axes

VARIANCE_FLOOR = 1e-12


@dataclass(eq=False)
class TimeCourseStats:
    """Per layer: frame count, the units' means and their co-moments (sums of products of
    deviations from the mean), merged by Chan et al.'s pairwise update. Sums of plain
    products lose the covariance of a unit that sits near a large value (a saturated
    sigmoid) to cancellation: measured 1e-6 off numpy's corrcoef on a small network."""

    units: Mapping[int, int]  # layer -> number of units
    frames: int = 0
    means: dict = field(init=False)
    comoments: dict = field(init=False)

    def __post_init__(self):
        self.means = {k: np.zeros(u) for k, u in self.units.items()}
        self.comoments = {k: np.zeros((u, u)) for k, u in self.units.items()}

    def _combine(self, k: int, n: int, mean: np.ndarray, comoment: np.ndarray) -> None:
        total = self.frames + n
        delta = mean - self.means[k]
        self.comoments[k] += comoment + np.outer(delta, delta) * (self.frames * n / total)
        self.means[k] += delta * (n / total)

    def add(self, layers: Mapping[int, np.ndarray], where: str = "an utterance") -> None:
        """One utterance: ``layers[k]`` is frames x units (the same frames in every layer).
        NaN or inf anywhere is a :class:`ModelError` naming ``where`` and the layer: one
        such frame would make every correlation of its layer NaN."""
        counts = {acts.shape[0] for acts in layers.values()}
        if len(counts) != 1 or set(layers) != set(self.units):
            raise ValueError("every layer of the statistics, with the same frames, is needed")
        for k, acts in layers.items():
            x = acts.astype(np.float64)
            if not np.isfinite(x).all():
                frame = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
                raise ModelError(f"{where}: layer {k} holds NaN or inf at frame {frame}; "
                                 f"the model's numbers overflow, so no map can be made "
                                 f"from them (check the model with deepbrain activations)")
            mean = x.mean(axis=0)
            centred = x - mean
            self._combine(k, x.shape[0], mean, centred.T @ centred)
        self.frames += counts.pop()

    def merge(self, other: "TimeCourseStats") -> None:
        if dict(other.units) != dict(self.units):
            raise ValueError("merging statistics of different layers")
        if other.frames:
            for k in self.means:
                self._combine(k, other.frames, other.means[k], other.comoments[k])
            self.frames += other.frames

    def correlation(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """Units x units Pearson correlation, and which units are constant (r = 0 to all)."""
        if self.frames < 2:
            raise DeepbrainError(f"{self.frames} frame(s) are too few to correlate units")
        mean = self.means[layer]
        cov = self.comoments[layer] / self.frames
        var = np.diag(cov).copy()
        dead = var <= VARIANCE_FLOOR * max(1.0, float(np.abs(mean).max(initial=0.0)) ** 2)
        std = np.sqrt(np.where(dead, 1.0, var))
        r = np.clip(cov / np.outer(std, std), -1.0, 1.0)
        r[dead, :] = 0.0
        r[:, dead] = 0.0
        np.fill_diagonal(r, 1.0)
        return r, dead


def correlation_points(r: np.ndarray, seed: int, perplexity: float = 30.0,
                       iterations: int = ITERATIONS) -> np.ndarray:
    """2-D t-SNE of the units on the distance 1 - r, axes scaled to [-0.9, 0.9]."""
    n = r.shape[0]
    if n <= 3 * perplexity:
        raise DeepbrainError(f"{n} units are too few for t-SNE with perplexity {perplexity:g} "
                             f"(it needs more than {3 * perplexity:g}); pass --perplexity "
                             f"{max(1, (n - 1) // 3)} or less")
    # Rounded to 1e-6: the jobs' sums are added in another order for another --nj, which
    # moves r by ~1e-15, and t-SNE would turn that into another map.
    distance = np.clip(np.round(1.0 - r, 6), 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    tsne = make_tsne(seed, perplexity, iterations, metric="precomputed")
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
                         perplexity: float = 30.0, neighbours: int = 10,
                         iterations: int = ITERATIONS) -> tuple[LayerMap, dict]:
    """The map of one layer from the time-course correlations, and its summary."""
    r, dead = stats.correlation(layer)
    points = correlation_points(r, seed, perplexity, iterations)
    off = r[~np.eye(r.shape[0], dtype=bool)]
    summary = {
        "layer": layer, "units": int(r.shape[0]), "frames": int(stats.frames),
        "method": "t-SNE on 1 - Pearson correlation of activation time courses (no labels)",
        "dead_units": [int(u) + 1 for u in np.flatnonzero(dead)],
        "mean_abs_correlation": round(float(np.abs(off).mean()), 4),
        "neighbour_keeping": round(correlation_keeping(r, points, neighbours), 4),
        "neighbours": neighbours, "seed": seed, "perplexity": perplexity,
        "tsne_iterations": iterations,
    }
    return LayerMap(layer, points, delaunay(points)), summary


def write_unlabelled_layer(out: Path, lmap: LayerMap, summary: dict) -> None:
    """``vertices``, ``indices`` (the seed's form) and ``summary.json``. No ``units.csv`` nor
    ``regions.json``: with no phones there is no preferred phone, and the window reads a
    units.csv as build-map's labelled one (its regions say so when there is none)."""
    write_layer_map(lmap, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


# -- build-map --unlabelled: a corpus without labels -> a map per hidden layer ----------------

def accumulate_time_courses(utts: Sequence[Utterance], model, layers: tuple[int, ...],
                            engine: str = "auto", nj: int = 1,
                            progress: ProgressHook | None = None,
                            cancel: CancelHook | None = None, cmd: str | None = None
                            ) -> TimeCourseStats:
    """The time-course statistics of ``layers`` over ``utts`` (nnet1 or nnet3 ``model``),
    accumulated per job and merged, as the labelled build-map's (see build.accumulate)."""
    choice = select_engine(engine)
    units = {k: model.hidden_dims[k - 1] for k in layers}
    jobs = [list(utts[i::nj]) for i in range(nj)] if choice.name == "numpy" else [list(utts)]
    jobs = [j for j in jobs if j]
    request = Request(layers, nj=nj if choice.name == "kaldi" else 1, cmd=cmd)

    def one(part, report, stop) -> TimeCourseStats:
        stats = TimeCourseStats(units)
        for act in compute_activations(part, model, request, choice.name, progress=report,
                                       cancel=stop):
            stats.add(act.layers, f"utterance {act.utt_id}")
        return stats

    if len(jobs) == 1:
        return one(jobs[0], progress, cancel)

    def job(i: int, report: ProgressHook, stop: CancelHook) -> TimeCourseStats:
        with one_thread():
            return one(jobs[i], report, stop)

    parts = run_forked(len(jobs), job, len(utts), progress, cancel)
    for part in parts[1:]:
        parts[0].merge(part)
    return parts[0]


def build_unlabelled_maps(model, utts: Sequence[Utterance], out: Path,
                          layers: Sequence[int], opts, engine: str = "auto", nj: int = 1,
                          force: bool = False, progress: ProgressHook | None = None,
                          cancel: CancelHook | None = None, cmd: str | None = None
                          ) -> dict[int, dict]:
    """Maps of ``layers`` from a corpus without labels, written under ``out/lda`` by the
    labelled build-map's :class:`~.build.MapWriter` (all or nothing, signals held while
    moving); ``opts`` is its MapOptions (seed, perplexity, neighbours)."""
    from .build import MapWriter

    layers = tuple(layers)
    writer = MapWriter(out, layers, force, {k: model.hidden_dims[k - 1] for k in layers})
    stats = accumulate_time_courses(utts, model, layers, engine, nj, progress, cancel, cmd)
    if stats.frames < 2:
        raise DeepbrainError(f"{stats.frames} frame(s) in {len(utts)} utterance(s) are too "
                             f"few to correlate units; give a corpus of speech")
    summaries: dict[int, dict] = {}
    with writer:
        dirs = {k: writer.layer_dir(k) for k in layers}
        for i, (k, (lmap, summary)) in enumerate(
                _layer_maps(stats, list(dirs), opts, nj, cancel)):
            write_unlabelled_layer(dirs[k], lmap, summary)
            summaries[k] = summary
            if progress:
                progress(Progress("map", i + 1, len(layers)))
        writer.finish()
    return summaries


def _layer_maps(stats: TimeCourseStats, layers: list[int], opts, nj: int,
                cancel: CancelHook | None):
    """(layer, (map, summary)) in the order of ``layers``; t-SNEs in ``nj`` forked
    processes of one thread each (the same points for any nj)."""
    def one(k):
        return unlabelled_layer_map(stats, k, opts.seed, opts.perplexity, opts.neighbours,
                                    opts.iterations)

    workers = min(nj, len(layers))
    if workers <= 1:
        for k in layers:
            check_cancel(cancel)
            yield k, one(k)
        return

    def job(i: int, report: ProgressHook, stop: CancelHook) -> dict:
        with one_thread():
            return {k: one(k) for k in layers[i::workers]}

    maps: dict = {}
    for part in run_forked(workers, job, len(layers), None, cancel):
        maps.update(part)
    for k in layers:
        yield k, maps.pop(k)
