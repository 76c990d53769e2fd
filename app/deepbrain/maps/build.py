"""``deepbrain build-map``: a corpus with phone labels -> a map per hidden layer.

Activations come from either engine (the Kaldi engine runs getact.sh with ``--nj`` jobs;
the numpy engine runs ``nj`` worker processes, each over its share of the utterances);
statistics are accumulated per job and merged (see stats.py), never all frames at once.
CMVN is per utterance, as the viewer computes it.

Everything is written into a hidden folder under ``OUT`` and moved into ``OUT/lda/K/`` at
the end; an existing map is replaced only with ``force``. Per layer: ``vertices``,
``indices`` (the seed's form), ``activities`` (units x phones patterns, the seed's form;
``nan`` marks a phone with no frames), ``units.csv``, ``regions.json``, ``summary.json``
and, with ``plot``, ``map.png``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import FormatError, OutputExistsError
from ..layermap import LayerMap, write_layer_map
from ..model import Model
from ..pipeline import (CancelHook, Progress, ProgressHook, Request, Utterance,
                        check_cancel, compute_activations, select_engine)
from .labels import PhoneSet, fit_to_frames
from .layout import delaunay, neighbour_keeping, one_thread, tsne_points
from .selectivity import Selectivity, activity_patterns, pattern_entropy, regions, selectivity
from .stats import CorpusStats


@dataclass(frozen=True)
class MapOptions:
    seed: int = 0
    perplexity: float = 30.0
    alpha: float = 0.01
    reservoir: int = 100
    neighbours: int = 10
    plot: bool = False


def accumulate(utts: Sequence[Utterance], model: Model, layers: tuple[int, ...],
               labels: dict, phones: PhoneSet, label_source: str, opts: MapOptions,
               engine: str = "auto", nj: int = 1, progress: ProgressHook | None = None,
               cancel: CancelHook | None = None, cmd: str | None = None) -> CorpusStats:
    """The corpus statistics of ``layers``, accumulated per job and merged (``cmd``: how the
    Kaldi engine runs its ``nj`` jobs, None for kaldi_recipes/cmd.sh)."""
    missing = [u.utt_id for u in utts if u.utt_id not in labels]
    if missing:
        raise FormatError(f"{label_source}: no labels for {len(missing)} of {len(utts)} "
                          f"utterances (e.g. {', '.join(missing[:3])}); the labels and the "
                          f"data dir do not match")
    choice = select_engine(engine)
    units = {k: model.hidden_dims[k - 1] for k in layers}
    jobs = [list(utts[i::nj]) for i in range(nj)] if choice.name == "numpy" else [list(utts)]
    jobs = [j for j in jobs if j]
    shared = (model, layers, labels, phones, label_source, opts, units, choice.name, nj, cmd)
    if len(jobs) == 1:
        return _accumulate_job(jobs[0], 0, *shared, progress=progress, cancel=cancel)
    global _FORKED  # the workers inherit these through fork instead of a pickled copy
    _FORKED = (jobs, shared)
    try:
        with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
            parts = pool.map(_forked_job, range(len(jobs)))
    finally:
        _FORKED = None
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    if progress:
        progress(Progress("forward", len(utts), len(utts)))
    return total


_FORKED = None


def _forked_job(i: int) -> CorpusStats:
    jobs, shared = _FORKED
    with one_thread():  # a core each: BLAS threads on top would only contend (and spin)
        return _accumulate_job(jobs[i], i, *shared)


def _accumulate_job(utts, job, model, layers, labels, phones, label_source, opts, units,
                    engine, nj, cmd, progress=None, cancel=None) -> CorpusStats:
    stats = CorpusStats(len(phones.names), units, opts.reservoir, seed=opts.seed * 1000 + job)
    request = Request(layers, nj=nj if engine == "kaldi" else 1, cmd=cmd)
    for act in compute_activations(utts, model, request, engine, progress=progress,
                                   cancel=cancel):
        where = f"{label_source}: utterance {act.utt_id}"
        classes = phones.classes(labels[act.utt_id], where)
        stats.add(act.layers, fit_to_frames(classes, act.num_frames, act.utt_id, label_source))
    return stats


def layer_map(stats: CorpusStats, layer: int, names: tuple[str, ...], opts: MapOptions,
              points: np.ndarray | None = None, sel: Selectivity | None = None
              ) -> tuple[LayerMap, dict]:
    """The map of one layer and its tables (patterns, selectivity, regions, summary);
    ``points`` (t-SNE) and ``sel`` when they were computed elsewhere."""
    patterns = activity_patterns(stats.means(layer))
    if points is None:
        points = tsne_points(patterns, opts.seed, opts.perplexity)
    if sel is None:
        sel = selectivity(stats, layer, patterns, opts.alpha)
    keeping = neighbour_keeping(patterns, points, opts.neighbours)
    unit_psi = sel.unit_psi
    summary = {
        "layer": layer, "units": int(patterns.shape[0]), "phones": list(names),
        "frames": int(stats.counts.sum()),
        "phones_without_frames": [n for n, c in zip(names, stats.counts) if c == 0],
        "mean_psi": round(float(np.mean(np.maximum(unit_psi, 0))), 3),
        "selective_share": round(float(np.mean(unit_psi > 0)), 4),
        "mean_entropy_bits": round(float(np.mean(sel.entropy)), 3),
        "neighbour_keeping": round(keeping, 4), "neighbours": opts.neighbours,
        "seed": opts.seed, "perplexity": opts.perplexity, "alpha": opts.alpha,
        "frames_per_phone_for_psi": opts.reservoir,
    }
    tables = {"patterns": patterns, "selectivity": sel, "summary": summary,
              "regions": regions(sel.preferred, points, names)}
    return LayerMap(layer, points, delaunay(points)), tables


def write_layer(out: Path, lmap: LayerMap, tables: dict, names: tuple[str, ...],
                plot: bool) -> None:
    """One layer's files into ``out`` (a folder that becomes ``lda/K``)."""
    write_layer_map(lmap, out)
    write_patterns(tables["patterns"], out / "activities")
    sel = tables["selectivity"]
    rows = ["unit,x,y,preferred,psi,entropy_bits"]
    for u in range(lmap.num_units):
        x, y = lmap.vertices[u]
        psi = int(sel.unit_psi[u])
        rows.append(f"{u + 1},{x:.6f},{y:.6f},{names[sel.preferred[u]]},"
                    f"{psi if psi >= 0 else ''},{sel.entropy[u]:.4f}")
    (out / "units.csv").write_text("\n".join(rows) + "\n")
    (out / "regions.json").write_text(json.dumps(tables["regions"], indent=1) + "\n")
    (out / "summary.json").write_text(json.dumps(tables["summary"], indent=2) + "\n")
    if plot:
        from .plot import plot_map
        plot_map(lmap, sel.preferred, names, tables["regions"], out / "map.png",
                 f"layer {lmap.layer}: {lmap.num_units} units by preferred phone "
                 f"(neighbour keeping {tables['summary'].get('neighbour_keeping', 0):.2f})")


def write_patterns(patterns: np.ndarray, path: Path) -> None:
    """The seed's ``activities`` text form: a line per unit, each number ``" %.8e"``."""
    path.write_text("".join("".join(f" {v:.8e}" for v in row) + "\n" for row in patterns))


def read_patterns(path: Path) -> np.ndarray:
    try:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        m = np.array(rows, dtype=np.float64)
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: not a units x phones text matrix ({e})") from None
    if m.ndim != 2 or m.shape[0] < 2 or m.shape[1] < 2:
        raise FormatError(f"{path}: expected a units x phones text matrix, got shape {m.shape}")
    return m


class MapWriter:
    """Layers go into ``OUT/.lda.partial-PID/K`` and move to ``OUT/lda/K`` at the end."""

    def __init__(self, out_dir: Path, layers: Sequence[int], force: bool):
        self.out = Path(out_dir)
        existing = [k for k in layers if (self.out / "lda" / str(k) / "vertices").exists()]
        if existing and not force:
            raise OutputExistsError(f"{self.out / 'lda'}: already holds maps for layer(s) "
                                    f"{', '.join(map(str, existing))}; pass --force to replace "
                                    f"them or choose another --out")
        self.tmp = self.out / f".lda.partial-{os.getpid()}"

    def __enter__(self) -> "MapWriter":
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        return self

    def layer_dir(self, k: int) -> Path:
        d = self.tmp / str(k)
        d.mkdir()
        return d

    def finish(self) -> None:
        (self.out / "lda").mkdir(exist_ok=True)
        for d in sorted(self.tmp.iterdir()):
            target = self.out / "lda" / d.name
            shutil.rmtree(target, ignore_errors=True)
            os.replace(d, target)

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def build_maps(model: Model, utts: Sequence[Utterance], labels: dict, phones: PhoneSet,
               label_source: str, out: Path, layers: Sequence[int], opts: MapOptions,
               engine: str = "auto", nj: int = 1, force: bool = False,
               progress: ProgressHook | None = None, cancel: CancelHook | None = None,
               cmd: str | None = None) -> dict[int, dict]:
    """Maps of ``layers`` from a labelled corpus, written under ``out/lda``."""
    layers = tuple(layers)
    for k in layers:
        if not 1 <= k <= model.num_hidden:
            raise FormatError(f"layer {k} asked for, but {model.path / 'final.nnet'} has "
                              f"hidden layers 1..{model.num_hidden}")
    writer = MapWriter(out, layers, force)  # refuses before any work
    stats = accumulate(utts, model, layers, labels, phones, label_source, opts, engine, nj,
                       progress, cancel, cmd)
    return maps_from_stats(stats, phones.names, writer, layers, opts, nj, progress, cancel)


def maps_from_stats(stats: CorpusStats, names: tuple[str, ...], writer: MapWriter,
                    layers: Sequence[int], opts: MapOptions, nj: int = 1,
                    progress: ProgressHook | None = None, cancel: CancelHook | None = None
                    ) -> dict[int, dict]:
    """The map part of build-map: each layer's map and files from corpus statistics.

    t-SNE is most of the work (its Barnes-Hut gradient; the rank tests of the PSI come
    next). Layers are independent, so with ``nj`` > 1, ``nj`` forked processes run the
    t-SNEs, one layer each at a time, while this process runs each layer's rank tests and
    writes its files as its points arrive. Every process keeps to one BLAS/OpenMP thread:
    one-threaded t-SNEs side by side beat a two-threaded one, whose OpenMP threads spin when
    the cores are shared, and t-SNE's points do not depend on its thread count. Files and
    results are the same for any ``nj``.
    """
    layers = tuple(layers)
    summaries = {}
    with writer:
        dirs = {k: writer.layer_dir(k) for k in layers}
        for i, (k, summary) in enumerate(_each_layer(stats, names, dirs, opts, nj, cancel)):
            summaries[k] = summary
            if progress:
                progress(Progress("map", i + 1, len(layers)))
        writer.finish()
    return summaries


def _each_layer(stats: CorpusStats, names: tuple[str, ...], dirs: dict[int, Path],
                opts: MapOptions, nj: int, cancel: CancelHook | None):
    """(layer, summary) for each layer as its files are written, in the order of ``dirs``."""
    workers = min(nj, len(dirs))
    if workers <= 1:
        for k, d in dirs.items():
            check_cancel(cancel)
            lmap, tables = layer_map(stats, k, names, opts)
            write_layer(d, lmap, tables, names, opts.plot)
            yield k, tables["summary"]
        return
    global _FORKED_MAPS  # the workers inherit the statistics through fork
    _FORKED_MAPS = (stats, opts)
    try:
        check_cancel(cancel)
        with multiprocessing.get_context("fork").Pool(workers) as pool, one_thread():
            points = pool.imap(_forked_points, dirs)
            for k, d in dirs.items():
                sel = selectivity(stats, k, activity_patterns(stats.means(k)), opts.alpha)
                lmap, tables = layer_map(stats, k, names, opts, next(points), sel)
                write_layer(d, lmap, tables, names, opts.plot)
                yield k, tables["summary"]
                check_cancel(cancel)  # leaving the pool's block terminates the workers
    finally:
        _FORKED_MAPS = None


_FORKED_MAPS = None


def _forked_points(k: int) -> np.ndarray:
    stats, opts = _FORKED_MAPS
    with one_thread():
        return tsne_points(activity_patterns(stats.means(k)), opts.seed, opts.perplexity)


def build_from_patterns(path: Path, out: Path, layer: int, opts: MapOptions,
                        names: tuple[str, ...] | None = None, force: bool = False) -> dict:
    """A map from a units x phones patterns file alone (no model, no PSI: no frames)."""
    patterns = read_patterns(path)
    if names is None:
        names = tuple(f"p{i + 1}" for i in range(patterns.shape[1]))
    elif len(names) != patterns.shape[1]:
        raise FormatError(f"{path}: {patterns.shape[1]} columns but {len(names)} phone names")
    writer = MapWriter(out, (layer,), force)
    points = tsne_points(patterns, opts.seed, opts.perplexity)
    preferred = np.argmax(np.nan_to_num(patterns, nan=-np.inf), axis=1)
    sel = Selectivity(preferred, np.full(patterns.shape, -1), pattern_entropy(patterns))
    summary = {"layer": layer, "units": int(patterns.shape[0]), "phones": list(names),
               "patterns": str(path), "mean_entropy_bits": round(float(np.mean(sel.entropy)), 3),
               "neighbour_keeping": round(neighbour_keeping(patterns, points, opts.neighbours), 4),
               "neighbours": opts.neighbours, "seed": opts.seed, "perplexity": opts.perplexity}
    tables = {"patterns": patterns, "selectivity": sel, "summary": summary,
              "regions": regions(preferred, points, names)}
    with writer:
        write_layer(writer.layer_dir(layer), LayerMap(layer, points, delaunay(points)), tables,
                    names, opts.plot)
        writer.finish()
    return summary
