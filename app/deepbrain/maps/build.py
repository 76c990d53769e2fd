"""``deepbrain build-map``: a corpus with phone labels -> a map per hidden layer.

Activations come from either engine (the Kaldi engine runs getact.sh with ``--nj`` jobs;
the numpy engine runs ``nj`` worker processes, each over its share of the utterances);
statistics are accumulated per job and merged (see stats.py), never all frames at once.
CMVN is per utterance, as the viewer computes it.

Everything is written into a hidden folder under ``OUT`` and moved into ``OUT/lda/K/`` at
the end; an existing map is replaced only with ``force``. Per layer: ``vertices``,
``indices`` (the seed's form), ``activities`` (units x phones patterns, the seed's form;
``nan`` marks a phone with no frames), ``units.csv``, ``regions.json``, ``summary.json``
and, with ``plot``, ``map.png`` and ``psi.png`` (units x phones PSI, both axes clustered).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import DeepbrainError, FormatError, OutputExistsError
from ..layermap import LayerMap, write_layer_map
from ..model import Model
from ..nnet1 import read_nnet
from ..pipeline import (CancelHook, Progress, ProgressHook, Request, Utterance,
                        check_cancel, compute_activations, select_engine)
from .jobs import run_forked, signals_held
from .labels import PhoneSet, fit_to_frames
from .layout import (ITERATIONS, MIN_ITERATIONS, MIN_UNITS, delaunay, neighbour_keeping,
                     one_thread, tsne_points)
from .selectivity import Selectivity, activity_patterns, pattern_entropy, regions, selectivity
from .stats import CorpusStats


MAX_SEED = 2 ** 32 - 1  # scikit-learn's random_state takes 0..2^32-1


@dataclass(frozen=True)
class MapOptions:
    """How maps are made; the values are checked here, before any work."""

    seed: int = 0
    perplexity: float = 30.0
    alpha: float = 0.01
    reservoir: int = 100
    neighbours: int = 10
    plot: bool = False
    iterations: int = ITERATIONS

    def __post_init__(self):
        if not 0 <= self.seed <= MAX_SEED:
            raise DeepbrainError(f"--seed {self.seed}: expected a whole number 0..{MAX_SEED}")
        if not (math.isfinite(self.perplexity) and self.perplexity > 0):
            raise DeepbrainError(f"--perplexity {self.perplexity:g}: expected a number above 0 "
                                 f"(about how many close neighbours a unit has; default 30)")
        if not MIN_ITERATIONS <= self.iterations <= 100000:
            raise DeepbrainError(f"--tsne-iterations {self.iterations}: expected a whole number "
                                 f"{MIN_ITERATIONS}..100000 (default {ITERATIONS})")
        if not 0 < self.alpha < 1:
            raise DeepbrainError(f"--alpha {self.alpha:g}: expected a test level between 0 "
                                 f"and 1 (default 0.01)")
        if self.reservoir < 2 or self.neighbours < 1:
            raise DeepbrainError(f"frames per phone {self.reservoir} (at least 2) and "
                                 f"neighbours {self.neighbours} (at least 1) are out of range")


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

    def job(i: int, report: ProgressHook, stop: CancelHook) -> CorpusStats:
        with one_thread():  # a core each: BLAS threads on top would only contend (and spin)
            return _accumulate_job(jobs[i], i, *shared, progress=report, cancel=stop)

    parts = run_forked(len(jobs), job, len(utts), progress, cancel)
    total = parts[0]
    for part in parts[1:]:
        total.merge(part)
    return total


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
        points = tsne_points(patterns, opts.seed, opts.perplexity, opts.iterations)
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
        "seed": opts.seed, "perplexity": opts.perplexity,
        "tsne_iterations": opts.iterations, "alpha": opts.alpha,
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
        from .plot import plot_map, plot_psi
        plot_map(lmap, sel.preferred, names, tables["regions"], out / "map.png",
                 f"layer {lmap.layer}: {lmap.num_units} units by preferred phone "
                 f"(neighbour keeping {tables['summary'].get('neighbour_keeping', 0):.2f})")
        if (sel.psi >= 0).any():   # PSI needs frames: none from --patterns alone
            plot_psi(sel.psi, names, out / "psi.png",
                     f"layer {lmap.layer}: phoneme selectivity index of {lmap.num_units} "
                     f"units")


def write_patterns(patterns: np.ndarray, path: Path) -> None:
    """The seed's ``activities`` text form: a line per unit, each number ``" %.8e"``."""
    path.write_text("".join("".join(f" {v:.8e}" for v in row) + "\n" for row in patterns))


def read_patterns(path: Path) -> np.ndarray:
    """A units x phones text matrix: finite numbers, ``nan`` for a phone with no frames."""
    try:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        m = np.array(rows, dtype=np.float64)
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: not a units x phones text matrix ({e})") from None
    if m.ndim != 2 or m.shape[0] < MIN_UNITS or m.shape[1] < 2:
        raise FormatError(f"{path}: expected a units x phones text matrix of at least "
                          f"{MIN_UNITS} units and 2 phones, got shape {m.shape}")
    infinite = np.argwhere(np.isinf(m))
    if infinite.size:
        row, col = infinite[0]
        raise FormatError(f"{path}: row {row + 1}, column {col + 1} is {m[row, col]:g}; "
                          f"activity patterns are finite numbers (nan marks a phone with no "
                          f"frames)")
    return m


class MapWriter:
    """Layers go into ``OUT/.lda.partial-PID/K`` and move to ``OUT/lda/K`` at the end.

    ``units`` is each layer's number of units: where OUT is a model directory, its
    final.nnet must have those layers with those units, or the maps would make the model
    directory invalid (``deepbrain info`` refuses a map that does not fit its network)."""

    def __init__(self, out_dir: Path, layers: Sequence[int], force: bool,
                 units: Mapping[int, int]):
        self.out = Path(out_dir)
        for k in layers:
            if k < 1:
                raise DeepbrainError(f"--layer {k}: layers are numbered from 1")
        _check_model_dir(self.out, units)
        existing = [k for k in layers if (self.out / "lda" / str(k) / "vertices").exists()]
        if existing and not force:
            raise OutputExistsError(f"{self.out / 'lda'}: already holds maps for layer(s) "
                                    f"{', '.join(map(str, existing))}; pass --force to replace "
                                    f"them or choose another --out")
        self.tmp = self.out / f".lda.partial-{os.getpid()}"

    def __enter__(self) -> "MapWriter":
        self._made = [d for d in (self.out, *self.out.parents) if not d.exists()][::-1]
        try:  # a signal between the mkdir and the with block must not leave the folder
            shutil.rmtree(self.tmp, ignore_errors=True)  # left by a killed run with this PID
            self.tmp.mkdir(parents=True)
            return self
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def layer_dir(self, k: int) -> Path:
        d = self.tmp / str(k)
        d.mkdir()
        return d

    def finish(self) -> None:
        """Move the new layers into ``lda/``; an old map of a layer is moved aside first and
        removed only after the new one is in place. Signals wait until the moves are done."""
        with signals_held():
            (self.out / "lda").mkdir(exist_ok=True)
            for d in sorted(p for p in self.tmp.iterdir() if p.name.isdigit()):
                target = self.out / "lda" / d.name
                if target.exists():
                    os.replace(target, self.tmp / f"old-{d.name}")
                os.replace(d, target)
            self._made = []

    def __exit__(self, *exc) -> None:
        with signals_held():  # a second Ctrl-C or a SIGTERM must not leave half of it
            shutil.rmtree(self.tmp, ignore_errors=True)
            for d in reversed(self._made):  # folders made for maps that never came
                try:
                    d.rmdir()
                except OSError:
                    break


def _check_model_dir(out: Path, units: Mapping[int, int]) -> None:
    nnet_path = out / "final.nnet"
    if nnet_path.is_file():
        dims = read_nnet(nnet_path).hidden_dims
    else:
        from ..nnet3model import nnet3_dir

        if not nnet3_dir(out):
            return
        from ..nnet3.modeldir import find_nnet3_model, load_network

        files = find_nnet3_model(out, needs_ivector=False)
        dims, nnet_path = load_network(files).hidden_dims, files.mdl
    for k, n in sorted(units.items()):
        if k > len(dims):
            raise DeepbrainError(f"{out}: is a model dir whose {nnet_path.name} has hidden "
                                 f"layers 1..{len(dims)}; a map for layer {k} would make it "
                                 f"invalid: choose a layer in 1..{len(dims)} or another --out")
        if dims[k - 1] != n:
            raise DeepbrainError(f"{out}: is a model dir whose layer {k} has {dims[k - 1]} "
                                 f"units, but this map has {n}; a map goes with its own "
                                 f"network: choose another --out (or --layer)")


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
    writer = MapWriter(out, layers, force, {k: model.hidden_dims[k - 1] for k in layers})
    stats = accumulate(utts, model, layers, labels, phones, label_source, opts, engine, nj,
                       progress, cancel, cmd)
    return maps_from_stats(stats, phones.names, writer, layers, opts, nj, progress, cancel)


def maps_from_stats(stats: CorpusStats, names: tuple[str, ...], writer: MapWriter,
                    layers: Sequence[int], opts: MapOptions, nj: int = 1,
                    progress: ProgressHook | None = None, cancel: CancelHook | None = None
                    ) -> dict[int, dict]:
    """The map part of build-map: each layer's map and files from corpus statistics.

    t-SNE is most of the work (its Barnes-Hut gradient; the rank tests of the PSI come
    next). Layers are independent, so with ``nj`` > 1, ``nj`` forked processes
    (:mod:`.jobs`: Ctrl-C stops them cleanly) each map every nj-th layer, and this process
    writes the files. Every process keeps to one BLAS/OpenMP thread:
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
    order = list(dirs)

    def job(i: int, report: ProgressHook, stop: CancelHook) -> dict:
        with one_thread():
            return {k: layer_map(stats, k, names, opts) for k in order[i::workers]}

    maps: dict = {}
    for part in run_forked(workers, job, len(order), None, cancel):
        maps.update(part)
    for k, d in dirs.items():
        lmap, tables = maps.pop(k)
        write_layer(d, lmap, tables, names, opts.plot)
        yield k, tables["summary"]


def build_from_patterns(path: Path, out: Path, layer: int, opts: MapOptions,
                        names: tuple[str, ...] | None = None, force: bool = False) -> dict:
    """A map from a units x phones patterns file alone (no model, no PSI: no frames)."""
    patterns = read_patterns(path)
    if names is None:
        names = tuple(f"p{i + 1}" for i in range(patterns.shape[1]))
    elif len(names) != patterns.shape[1]:
        raise FormatError(f"{path}: {patterns.shape[1]} columns but {len(names)} phone names")
    writer = MapWriter(out, (layer,), force, {layer: patterns.shape[0]})
    points = tsne_points(patterns, opts.seed, opts.perplexity, opts.iterations)
    preferred = np.argmax(np.nan_to_num(patterns, nan=-np.inf), axis=1)
    sel = Selectivity(preferred, np.full(patterns.shape, -1), pattern_entropy(patterns))
    summary = {"layer": layer, "units": int(patterns.shape[0]), "phones": list(names),
               "patterns": str(path), "mean_entropy_bits": round(float(np.mean(sel.entropy)), 3),
               "neighbour_keeping": round(neighbour_keeping(patterns, points, opts.neighbours), 4),
               "neighbours": opts.neighbours, "seed": opts.seed, "perplexity": opts.perplexity,
               "tsne_iterations": opts.iterations}
    tables = {"patterns": patterns, "selectivity": sel, "summary": summary,
              "regions": regions(preferred, points, names)}
    with writer:
        write_layer(writer.layer_dir(layer), LayerMap(layer, points, delaunay(points)), tables,
                    names, opts.plot)
        writer.finish()
    return summary
