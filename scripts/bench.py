#!/usr/bin/env python3
"""Benchmarks: ``make bench`` writes the figures to bench/results.md (and prints them).

On the seed's architecture (440 -> 7 x 2048 sigmoid -> 2031 softmax, with the seed's front
end: 13 MFCC, splice +-3, a 40 x 91 transform, splice +-5 feature transform) and 30 s of
audio:

- the embedded numpy engine, all seven layers, per stage;
- with Kaldi (KALDI_ROOT): every layer through getact.sh's O(L) chain of per-layer pieces,
  against one full nnet-forward and against the naive way (truncate the network with
  nnet-copy --remove-last-components and run a full forward for each layer).

Maps (``--what maps``):

- ``deepbrain build-map`` end to end on a 300-utterance espeak corpus through the demo model
  (5 x 512), numpy engine, --nj 2 (needs espeak-ng);
- the map part of build-map (t-SNE, PSI, neighbours, Delaunay, files) for the seed's shape,
  7 x 2048 units over 38 phones with 100 sampled frames each (synthetic activations);
- the PSI of one 512-unit layer of that corpus: the per-pair mannwhitneyu loop it replaced
  against the vectorised rank-sum (the same PSI, checked).

Wall time, and CPU time (this process and its children) because the machine's load (given
in the header) changes wall time.

The network is made with Kaldi's nnet-initialize when Kaldi is there (as the issue asks),
else with deepbrain's writer; the weights are random either way (speed does not care).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

from deepbrain.audio import write_wav16, Audio  # noqa: E402
from deepbrain.engines import kaldi_engine  # noqa: E402
from deepbrain.model import load_model  # noqa: E402
from deepbrain.nnet1 import (AddShift, AffineTransform, Nnet, Rescale, Sigmoid, Softmax,  # noqa
                             Splice, write_nnet)
from deepbrain.pipeline import Request, compute_activations, utterances_from_wavs  # noqa: E402

HIDDEN, UNITS, OUTPUTS = 7, 2048, 2031
PROTO = "<NnetProto>\n" + "".join(
    f"<AffineTransform> <InputDim> {440 if k == 0 else UNITS} <OutputDim> {UNITS} "
    f"<BiasMean> -2.0 <BiasRange> 4.0 <ParamStddev> 0.1\n"
    f"<Sigmoid> <InputDim> {UNITS} <OutputDim> {UNITS}\n" for k in range(HIDDEN)) + \
    f"<AffineTransform> <InputDim> {UNITS} <OutputDim> {OUTPUTS} <BiasMean> 0.0 " \
    f"<BiasRange> 0.0 <ParamStddev> 0.1\n<Softmax> <InputDim> {OUTPUTS} <OutputDim> {OUTPUTS}\n" \
    "</NnetProto>\n"


def synthetic_speech(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Noise through a moving resonance with syllable-like loudness: varied MFCCs."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f = 500 + 400 * np.sin(2 * np.pi * 0.7 * t) + 200 * np.sin(2 * np.pi * 3.1 * t)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    x = env * (6000 * np.sin(2 * np.pi * np.cumsum(f) / rate) + 1500 * rng.standard_normal(n))
    return np.clip(np.rint(x), -32768, 32767)


def make_model(d: Path, kaldi) -> str:
    rng = np.random.default_rng(1)
    d.mkdir(parents=True)
    mat = rng.standard_normal((40, 91)).astype(np.float32) * 0.1
    (d / "final.mat").write_text("[\n" + "\n".join(" ".join(f"{v:.6g}" for v in row)
                                                   for row in mat) + " ]\n")
    ft = Nnet((Splice(40, 440, offsets=np.arange(-5, 6)),
               AddShift(440, 440, shift=np.zeros(440, np.float32)),
               Rescale(440, 440, scale=np.ones(440, np.float32))))
    write_nnet(ft, d / "final.feature_transform")
    if kaldi is not None:
        (d / "proto").write_text(PROTO)
        subprocess.run([kaldi.binaries["nnet-initialize"], "--seed=777",
                        "--binary=true", str(d / "proto"), str(d / "final.nnet")],
                       check=True, capture_output=True)
        (d / "proto").unlink()
        return "nnet-initialize"
    comps = []
    for k in range(HIDDEN):
        n_in = 440 if k == 0 else UNITS
        comps += [AffineTransform(n_in, UNITS,
                                  linearity=(rng.standard_normal((UNITS, n_in)) * 0.1
                                             ).astype(np.float32),
                                  bias=(rng.random(UNITS) * 4 - 4).astype(np.float32)),
                  Sigmoid(UNITS, UNITS)]
    comps += [AffineTransform(UNITS, OUTPUTS, linearity=(rng.standard_normal((OUTPUTS, UNITS))
                                                         * 0.1).astype(np.float32),
                              bias=np.zeros(OUTPUTS, np.float32)), Softmax(OUTPUTS, OUTPUTS)]
    write_nnet(Nnet(tuple(comps)), d / "final.nnet")
    return "deepbrain's writer"


def timed(fn, repeat: int) -> float:
    """Best of ``repeat`` wall-clock runs (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_numpy(model_dir: Path, wav: Path, repeat: int) -> list[str]:
    model = load_model(model_dir)
    utts = utterances_from_wavs([wav])
    stamps: dict[str, float] = {}
    start = [0.0]

    def progress(p):
        stamps[p.stage] = time.perf_counter() - start[0]

    def run():
        start[0] = time.perf_counter()
        list(compute_activations(utts, model, Request(tuple(range(1, HIDDEN + 1))), "numpy",
                                 progress=progress))
    total = timed(run, repeat)
    prev, parts = 0.0, []
    for stage in ("mfcc", "forward"):  # the features, then the chain (cmvn..network) in chunks
        parts.append(f"{stage} {stamps[stage] - prev:.3f} s")
        prev = stamps[stage]
    return [f"| numpy engine, all {HIDDEN} layers (whole pipeline) | {total:.2f} s |",
            f"| numpy engine stages (last run) | {'; '.join(parts)} |"]


def bench_kaldi(kaldi, model_dir: Path, wav: Path, work: Path, repeat: int) -> list[str]:
    env = dict(os.environ, KALDI_ROOT=str(kaldi.root), LC_ALL="C")
    recipes = ROOT / "kaldi_recipes"
    data = work / "data"
    subprocess.run(["bash", str(recipes / "local/make_data.sh"), str(data), str(wav)],
                   check=True, env=env, capture_output=True)
    exp = work / "exp"

    def getact(stage: int, chunk: int = 0):
        subprocess.run(["bash", str(recipes / "getact.sh"), "--stage", str(stage),
                        "--chunk-frames", str(chunk), str(data), str(model_dir), str(exp)],
                       check=True, env=env, capture_output=True)
    whole = timed(lambda: getact(0), 1)
    chain = timed(lambda: getact(4), repeat)  # forward stage only: all layers, O(L)
    chunked = timed(lambda: getact(4, kaldi_engine.KALDI_CHUNK), repeat)
    bins = kaldi.binaries
    feats = f"scp:{exp}/transformed.scp"
    ft = f"--feature-transform={model_dir}/final.feature_transform"

    def full():
        subprocess.run([bins["nnet-forward"], ft, str(model_dir / "final.nnet"), feats,
                        "ark:/dev/null"], check=True, capture_output=True)

    def naive():
        n = 2 * HIDDEN + 2
        for k in range(1, HIDDEN + 1):
            cut = work / "cut.nnet"
            subprocess.run([bins["nnet-copy"], f"--remove-last-components={n - 2 * k}",
                            str(model_dir / "final.nnet"), str(cut)], check=True,
                           capture_output=True)
            subprocess.run([bins["nnet-forward"], ft, str(cut), feats, "ark:/dev/null"],
                           check=True, capture_output=True)
    one = timed(full, repeat)
    per_layer = timed(naive, 1)
    def plain_kaldi():
        """What a Kaldi user runs for the network's output: the front end and one full
        nnet-forward, piped (each stage a process, as Kaldi recipes pipe them)."""
        scp = f"scp:{data}/wav.scp"
        steps = [[bins["compute-mfcc-feats"], "--config=" + str(recipes / "conf/mfcc.conf"),
                  scp, "ark:-"],
                 [bins["apply-cmvn"], "--norm-means=true", "--norm-vars=false",
                  f"--utt2spk=ark:{data}/utt2spk", f"scp:{exp}/cmvn.scp", "ark:-", "ark:-"],
                 [bins["splice-feats"], "--left-context=3", "--right-context=3", "ark:-",
                  "ark:-"],
                 [bins["transform-feats"], str(model_dir / "final.mat"), "ark:-", "ark:-"],
                 [bins["nnet-forward"], ft, str(model_dir / "final.nnet"), "ark:-",
                  "ark:/dev/null"]]
        procs, prev = [], None
        for argv in steps:
            proc = subprocess.Popen(argv, stdin=prev, stdout=subprocess.PIPE
                                    if argv is not steps[-1] else subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            if prev is not None:
                prev.close()
            prev = proc.stdout
            procs.append(proc)
        if any(proc.wait() for proc in procs):
            raise SystemExit("bench: the plain Kaldi pipeline failed")

    plain = timed(plain_kaldi, repeat)
    out = work / "engine-out"
    # as installed: Python keeps its bytecode (this project's machines set
    # PYTHONDONTWRITEBYTECODE, which makes every run compile deepbrain's modules again)
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def engine_run():
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "deepbrain", "activations", str(wav), "--model",
                        str(model_dir), "--out", str(out), "--engine", "kaldi", "-q"],
                       check=True, capture_output=True, env=env)
    engine_run()  # the first run writes the network's pieces into the user's cache
    os.sync()  # the gigabytes the naive truncation wrote are not flushed during these runs
    engine = timed(engine_run, max(repeat, 5))
    return [f"| Kaldi engine end to end (deepbrain activations --engine kaldi: work dir, "
            f"getact.sh, all {HIDDEN} layers written as results; pieces from the cache) | "
            f"{engine:.2f} s, best of {max(repeat, 5)} ({engine / one:.2f}× one full "
            f"nnet-forward, target ≤ 1.3×; "
            f"{engine / plain:.2f}× the plain Kaldi pipeline below) |",
            f"| plain Kaldi pipeline for the output only (mfcc, cmvn, splice, transform, one "
            f"full nnet-forward, piped) | {plain:.2f} s |",
            f"| Kaldi getact.sh on its own, first run (cuts the pieces with nnet-copy), all "
            f"stages | {whole:.2f} s |",
            f"| Kaldi: all {HIDDEN} layers through the O(L) chain (getact.sh forward stage, pieces "
            f"already cut), whole utterances | "
            f"{chain:.2f} s ({chain / one:.2f}× one full forward) |",
            f"| the same, {kaldi_engine.KALDI_CHUNK} frames at a time (--chunk-frames, as the "
            f"engine runs it) | {chunked:.2f} s ({chunked / one:.2f}× one full forward) |",
            f"| Kaldi: one full nnet-forward (output layer only) | {one:.2f} s |",
            f"| Kaldi: naive per-layer truncation (nnet-copy + full forward per layer) | "
            f"{per_layer:.2f} s ({per_layer / one:.2f}× one full forward) |"]


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, result) of one run of ``fn``."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu, result


def bench_build_map(work: Path) -> list[str]:
    from deepbrain.corpus import why_unavailable

    reason = why_unavailable()
    if reason:
        return [f"| build-map, 300-utterance espeak corpus | not measured: {reason} |"]
    corpus = work / "corpus"
    subprocess.run([sys.executable, "-m", "deepbrain.corpus", str(corpus), "--utts", "300",
                    "--seed", "0", "--held-out", ""], check=True, capture_output=True,
                   env=dict(os.environ, PYTHONPATH=str(ROOT / "app")))
    demo = ROOT / "models" / "demo"
    argv = [sys.executable, "-m", "deepbrain", "build-map", "--model", str(demo),
            "--data", str(corpus / "train"), "--labels", str(corpus / "train" / "phones.ark"),
            "--phones", str(demo / "phones.txt"), "--out", str(work / "maps"), "--engine",
            "numpy", "--nj", "2", "--seed", "0", "-q", "--force"]
    wall, cpu, _ = measured(lambda: subprocess.run(
        argv, check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "app"))))
    frames = sum(int(line.split()[1]) for line in
                 (corpus / "train" / "utt2num_frames").read_text().splitlines())
    return [f"| build-map, 300-utterance espeak corpus ({frames} frames) through the demo "
            f"model (5 x 512), numpy engine, --nj 2, whole command | {wall:.1f} s "
            f"(CPU {cpu:.1f} s) |"]


def synthetic_stats(layers: int, units: int, phones: int = 38, frames_per_phone: int = 150):
    """Corpus statistics of that shape: sigmoid units with phone-dependent means, a few
    saturating (ties at 1.0, as real sigmoid layers have)."""
    from deepbrain.maps.stats import CorpusStats

    rng = np.random.default_rng(0)
    stats = CorpusStats(phones, {k: units for k in range(1, layers + 1)}, reservoir=100)
    means = {k: rng.normal(0, 1.5, (phones, units)) for k in stats.units}
    labels = rng.permutation(np.repeat(np.arange(phones), frames_per_phone))
    for part in np.array_split(labels, 10):
        stats.add({k: (1 / (1 + np.exp(-(m[part] * 3 + rng.standard_normal((part.size, units))
                                          )))).astype(np.float32) for k, m in means.items()},
                  part)
    return stats, tuple(f"p{i}" for i in range(phones))


def bench_map_part(work: Path) -> list[str]:
    from deepbrain.maps.build import MapOptions, MapWriter, maps_from_stats

    stats, names = synthetic_stats(HIDDEN, UNITS)
    layers = tuple(stats.units)
    wall, cpu, _ = measured(lambda: maps_from_stats(
        stats, names, MapWriter(work / "seedshape", layers, False, stats.units), layers,
        MapOptions(), nj=2))
    return [f"| build-map's map part for the seed's shape ({HIDDEN} x {UNITS} units, 38 phones "
            f"x 100 frames, synthetic), --nj 2 | {wall:.1f} s (CPU {cpu:.1f} s) |"]


def bench_psi(work: Path) -> list[str]:
    """One 512-unit layer's PSI: the per-pair mannwhitneyu loop against the rank-sum."""
    from scipy.stats import mannwhitneyu

    from deepbrain.maps.layout import one_thread
    from deepbrain.maps.selectivity import phoneme_selectivity

    stats, _ = synthetic_stats(1, 512)
    ok = [p for p in range(stats.num_phones) if stats.filled[p] >= 5]

    def loop():
        psi = np.full((512, stats.num_phones), -1, np.int64)
        for p in ok:
            x, count = stats.sample(1, p), np.zeros(512, np.int64)
            for q in ok:
                if q != p:
                    with np.errstate(invalid="ignore", divide="ignore"):
                        pv = mannwhitneyu(x, stats.sample(1, q), alternative="greater").pvalue
                    count += np.nan_to_num(pv, nan=1.0) < 0.01
            psi[:, p] = count
        return psi
    with one_thread():
        old_wall, old_cpu, old = measured(loop)
        new_wall, new_cpu, new = measured(lambda: phoneme_selectivity(stats, 1))
    same = "the same PSI" if np.array_equal(old, new) else "DIFFERENT PSI"
    return [f"| PSI of one 512-unit layer (38 phones, {len(ok) * (len(ok) - 1)} tests a unit): "
            f"mannwhitneyu per pair | {old_wall:.2f} s (CPU {old_cpu:.2f} s) |",
            f"| the same with the vectorised rank-sum ({same}) | {new_wall:.2f} s "
            f"(CPU {new_cpu:.2f} s) |"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.md"))
    ap.add_argument("--what", choices=("all", "engines", "maps"), default="all")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    kaldi = kaldi_engine.find_kaldi()
    if kaldi is not None and not kaldi_engine.usable(kaldi):
        kaldi = None
    work = Path(tempfile.mkdtemp(prefix="deepbrain-bench-"))
    try:
        model_dir = work / "model"
        made_by = make_model(model_dir, kaldi)
        wav = work / "speech.wav"
        write_wav16(Audio(synthetic_speech(args.seconds).astype(np.float32), 16000, "bench"), wav)
        rows = []
        if args.what in ("all", "engines"):
            rows += bench_numpy(model_dir, wav, args.repeat)
            if kaldi is not None:
                rows += bench_kaldi(kaldi, model_dir, wav, work, args.repeat)
            else:
                rows.append("| Kaldi | not found (set KALDI_ROOT to run the Kaldi figures) |")
        if args.what in ("all", "maps"):
            rows += bench_build_map(work) + bench_map_part(work) + bench_psi(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    header = ["# deepbrain benchmarks", "",
              f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, {os.cpu_count()} "
              f"cores, Python {platform.python_version()}, numpy {np.__version__}; "
              f"{args.seconds:g} s of synthetic audio ({int(args.seconds * 100) - 2} frames); "
              f"network 440 -> {HIDDEN} x {UNITS} sigmoid -> {OUTPUTS} softmax made by "
              f"{made_by}; best of {args.repeat} runs unless a row says otherwise (map rows: "
              f"one run). Load average (1 min) {load:.2f} at the start, "
              f"{os.getloadavg()[0]:.2f} at the end; this run at nice {os.nice(0)}.", "",
              "| what | wall time |", "|---|---|"]
    text = "\n".join(header + rows) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
