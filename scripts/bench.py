#!/usr/bin/env python3
"""Benchmarks: ``make bench`` writes the figures to bench/results.md (and prints them).

On the seed's architecture (440 -> 7 x 2048 sigmoid -> 2031 softmax, with the seed's front
end: 13 MFCC, splice +-3, a 40 x 91 transform, splice +-5 feature transform) and 30 s of
audio:

- the embedded numpy engine, all seven layers, per stage;
- with Kaldi (KALDI_ROOT): every layer through getact.sh's O(L) chain of per-layer pieces,
  against one full nnet-forward and against the naive way (truncate the network with
  nnet-copy --remove-last-components and run a full forward for each layer).

The network is made with Kaldi's nnet-initialize when Kaldi is there (as the issue asks),
else with deepbrain's writer; the weights are random either way (speed does not care).
"""

from __future__ import annotations

import argparse
import os
import platform
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
    for stage in ("mfcc", "cmvn", "splice", "transform", "forward"):
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

    def getact(stage: int):
        subprocess.run(["bash", str(recipes / "getact.sh"), "--stage", str(stage), str(data),
                        str(model_dir), str(exp)], check=True, env=env, capture_output=True)
    whole = timed(lambda: getact(0), 1)
    chain = timed(lambda: getact(4), repeat)  # forward stage only: all layers, O(L)
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
    os.environ["KALDI_ROOT"] = str(kaldi.root)
    model = load_model(model_dir)
    utts = utterances_from_wavs([wav])
    engine = timed(lambda: list(compute_activations(
        utts, model, Request(tuple(range(1, HIDDEN + 1))), "kaldi")), repeat)
    return [f"| Kaldi engine (deepbrain --engine kaldi: work dir, pieces written by deepbrain, "
            f"getact.sh, reading the arks), all {HIDDEN} layers | {engine:.2f} s |",
            f"| Kaldi getact.sh on its own, first run (cuts the pieces with nnet-copy), all "
            f"stages | {whole:.2f} s |",
            f"| Kaldi: all {HIDDEN} layers through the O(L) chain (getact.sh forward stage, pieces "
            f"already cut) | "
            f"{chain:.2f} s ({chain / one:.2f}× one full forward) |",
            f"| Kaldi: one full nnet-forward (output layer only) | {one:.2f} s |",
            f"| Kaldi: naive per-layer truncation (nnet-copy + full forward per layer) | "
            f"{per_layer:.2f} s ({per_layer / one:.2f}× one full forward) |"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.md"))
    args = ap.parse_args()
    kaldi = kaldi_engine.find_kaldi()
    if kaldi is not None and not kaldi_engine.usable(kaldi):
        kaldi = None
    work = Path(tempfile.mkdtemp(prefix="deepbrain-bench-"))
    try:
        model_dir = work / "model"
        made_by = make_model(model_dir, kaldi)
        wav = work / "speech.wav"
        write_wav16(Audio(synthetic_speech(args.seconds).astype(np.float32), 16000, "bench"), wav)
        rows = bench_numpy(model_dir, wav, args.repeat)
        if kaldi is not None:
            rows += bench_kaldi(kaldi, model_dir, wav, work, args.repeat)
        else:
            rows.append("| Kaldi | not found (set KALDI_ROOT to run the Kaldi figures) |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    header = ["# deepbrain benchmarks", "",
              f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, {os.cpu_count()} "
              f"cores, Python {platform.python_version()}, numpy {np.__version__}; "
              f"{args.seconds:g} s of synthetic audio ({int(args.seconds * 100) - 2} frames); "
              f"network 440 -> {HIDDEN} x {UNITS} sigmoid -> {OUTPUTS} softmax made by "
              f"{made_by}; best of {args.repeat} runs unless a row says otherwise.", "",
              "| what | wall time |", "|---|---|"]
    text = "\n".join(header + rows) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
