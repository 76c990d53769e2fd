"""Make golden.npz: real Kaldi's pitch output for tests/test_pitch.py's CI-side tests.

    KALDI_ROOT=/path/to/kaldi python tests/data/pitch/make_golden.py

The input is synthetic_voice(), made from integer arithmetic only, so the tests rebuild the
same samples bit for bit on any machine instead of storing them. The Viterbi cases come from
Kaldi's own PitchFrameInfo::ComputeBacktraces, compiled here from the Kaldi checkout into a
throwaway program (SEARCH_HARNESS; nothing of Kaldi is stored). Made on x86-64 AVX2 (AMD
EPYC, OpenBLAS 0.3.21 "Zen" kernels, two threads) with Kaldi 5.5.1181.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# name -> (rate, compute-kaldi-pitch-feats options)
RAW = {
    "raw16": (16000, []),
    "raw16_chunks": (16000, ["--frames-per-chunk=10", "--recompute-frame=60"]),
    "raw16_online": (16000, ["--frames-per-chunk=10", "--simulate-first-pass-online=true",
                             "--max-frames-latency=20", "--nccf-ballast-online=true",
                             "--preemphasis-coefficient=0.5"]),
    "raw8": (8000, ["--sample-frequency=8000", "--snip-edges=false", "--min-f0=60",
                    "--max-f0=300", "--penalty-factor=0.2", "--soft-min-f0=5"]),
}
# name -> (input, process-kaldi-pitch-feats options)
PROCESSED = {
    "proc16": ("raw16", []),
    "proc16_options": ("raw16", ["--add-raw-log-pitch=true", "--delay=3", "--srand=7",
                                 "--normalization-left-context=20",
                                 "--normalization-right-context=10", "--delta-window=3",
                                 "--pitch-scale=1.5", "--pov-scale=1", "--pov-offset=0.5",
                                 "--delta-pitch-scale=5"]),
}

SEARCH_HARNESS = r"""
#include <algorithm>
#include <limits>
#include <cstdio>
#include "feat/feature-functions.h"
#include "feat/mel-computations.h"
#include "feat/online-feature.h"
#include "feat/pitch-functions.h"
#include "feat/resample.h"
#include "matrix/matrix-functions.h"
#define private public
#include "feat/pitch-functions.cc"
#undef private
int main() {  // reads S T lags, then T x (nccf, prev); prints backpointers, forward costs
  using namespace kaldi;
  int S, T;
  if (scanf("%d %d", &S, &T) != 2) return 1;
  PitchExtractionOptions opts;
  Vector<BaseFloat> lags(S), nccf(S), prev(S), out(S);
  for (int i = 0; i < S; i++) { float v; if (scanf("%a", &v) != 1) return 1; lags(i) = v; }
  for (int t = 0; t < T; t++) {
    for (int i = 0; i < S; i++) { float v; if (scanf("%a", &v) != 1) return 1; nccf(i) = v; }
    for (int i = 0; i < S; i++) { float v; if (scanf("%a", &v) != 1) return 1; prev(i) = v; }
    PitchFrameInfo first(S);
    PitchFrameInfo info(&first);
    std::vector<std::pair<int32, int32> > index_info;
    info.ComputeBacktraces(opts, nccf, lags, prev, &index_info, &out);
    for (int i = 0; i < S; i++) printf("%d ", info.state_info_[i].backpointer);
    printf("\n");
    for (int i = 0; i < S; i++) printf("%a ", out(i));
    printf("\n");
  }
  return 0;
}
"""


def synthetic_voice(rate: int = 16000) -> np.ndarray:
    """1.3 s on the 16-bit scale from integer arithmetic only: a sawtooth gliding from 120 to
    180 Hz, silence, LCG noise, then a 240 Hz pulse train over an 80 Hz sawtooth."""
    n1, n2, n3, n4 = (rate * k // 10 for k in (4, 2, 3, 4))
    i = np.arange(n1, dtype=np.int64)
    increment = (120_000 + 60_000 * i // n1) * (1 << 32) // (rate * 1000)
    glide = (((np.cumsum(increment) & 0xFFFFFFFF) >> 20) - 2048) * 4
    x, noise = 12345, []
    for _ in range(n3):
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        noise.append(((x >> 16) - 16384) // 16)
    j = np.arange(n4, dtype=np.int64)
    pulses = np.where(j % (rate // 240) == 0, 9000, 0) + \
        (((j * 80 * 65536 // rate) & 0xFFFF) - 32768) // 16
    return np.concatenate([glide, np.zeros(n2, np.int64), np.array(noise, np.int64),
                           pulses]).astype(np.float32)


def search_cases(dist_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(prev, nccf) Viterbi inputs full of exact ties, from the distance table d[k]:
    parabolas and their envelopes (d(a) + d(b) = d(b) + d(a)), and quantised costs."""
    n = len(dist_row)
    k = np.arange(n)
    prev = [dist_row[np.abs(k - 50)], dist_row[np.abs(k - 208)],
            np.minimum(dist_row[np.abs(k - 100)], dist_row[np.abs(k - 300)]),
            ((k * 7919) % 20 * 0.01).astype(np.float32),
            (np.round(0.05 * np.sin(k / 17.0) + 0.0004 * k, 3)).astype(np.float32)]
    prev = np.array([p - p.min() for p in prev], dtype=np.float32)
    nccf = np.array([((k * (31 + 7 * c)) % 200 - 100) / 101.0 for c in range(len(prev))],
                    dtype=np.float32)
    return prev, nccf


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


def main() -> int:
    import kaldiio

    sys.path.insert(0, str(HERE.parents[2] / "app"))
    from deepbrain import pitch, pitch_tracker

    kaldi = Path(os.environ["KALDI_ROOT"])
    featbin = kaldi / "src" / "featbin"
    out: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, (rate, opts) in RAW.items():
            _write_wav(tmp / f"{rate}.wav", synthetic_voice(rate), rate)
            (tmp / "wav.scp").write_text(f"utt {tmp / f'{rate}.wav'}\n")
            _run([str(featbin / "compute-kaldi-pitch-feats"), *opts, f"scp:{tmp / 'wav.scp'}",
                  f"ark:{tmp / name}.ark"])
            out[name] = dict(kaldiio.load_ark(str(tmp / f"{name}.ark")))["utt"]
        for name, (src, opts) in PROCESSED.items():
            _run([str(featbin / "process-kaldi-pitch-feats"), *opts, f"ark:{tmp / src}.ark",
                  f"ark:{tmp / name}.ark"])
            out[name] = dict(kaldiio.load_ark(str(tmp / f"{name}.ark")))["utt"]
        # One run over a two-utterance archive: the noise of the second continues the first's.
        both = {"a": out["raw16"], "b": out["raw8"]}
        kaldiio.save_ark(str(tmp / "both.ark"), both)
        _run([str(featbin / "process-kaldi-pitch-feats"), f"ark:{tmp / 'both.ark'}",
              f"ark:{tmp / 'both_proc.ark'}"])
        out["proc_second_delta"] = dict(kaldiio.load_ark(str(tmp / "both_proc.ark")))["b"][:, 2]

        opts = pitch.PitchOptions()
        lags = pitch_tracker.select_lags(opts)
        prev, nccf = search_cases(pitch_tracker.Viterbi(opts, lags).dist[0])
        (tmp / "search.cc").write_text(SEARCH_HARNESS)
        _run(["c++", "-std=c++17", f"-I{kaldi / 'src'}", "-O1", "-DKALDI_DOUBLEPRECISION=0",
              "-DHAVE_OPENBLAS", f"-I{kaldi / 'tools/OpenBLAS/install/include'}",
              "-msse", "-msse2", str(tmp / "search.cc"), "-o", str(tmp / "search"),
              f"-L{kaldi / 'src/lib'}", "-lkaldi-feat", "-lkaldi-matrix", "-lkaldi-util",
              "-lkaldi-base", f"-Wl,-rpath,{kaldi / 'src/lib'}",
              f"-L{kaldi / 'tools/OpenBLAS/install/lib'}", "-lopenblas", "-lm", "-ldl",
              "-pthread"])
        text = f"{len(lags)} {len(prev)}\n" + " ".join(float(v).hex() for v in lags) + "\n"
        for n, p in zip(nccf, prev):
            text += " ".join(float(v).hex() for v in n) + "\n"
            text += " ".join(float(v).hex() for v in p) + "\n"
        lines = _run([str(tmp / "search")], input=text, text=True).stdout.splitlines()
        out["search_backpointers"] = np.array([line.split() for line in lines[0::2]],
                                              dtype=np.int16)
        out["search_forward_cost"] = np.array(  # two cases are enough for the local cost
            [[float.fromhex(v) for v in line.split()] for line in lines[1:4:2]], np.float32)
    np.savez_compressed(HERE / "golden.npz", **out)
    for name, value in out.items():
        print(f"{name}: {value.shape} {value.dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
