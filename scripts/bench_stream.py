#!/usr/bin/env python3
"""Memory benchmark: ``make bench`` writes bench/stream.md.

An hour of audio through ``deepbrain activations`` (numpy engine, every layer), its peak
resident memory read from the OS (``/usr/bin/time -v``), for two models:

- the demo model (models/demo: 5 x 512);
- the seed's architecture (440 -> 7 x 2048 sigmoid -> 2031, its front end; random weights),
  whose arks take about 20 GB of disk an hour.

Targets (issue "Scale"): <= 400 MB and <= 600 MB. The audio is synthetic (the engine's cost
does not depend on what is said) and written to a temp dir in pieces.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from bench import make_model, synthetic_speech  # noqa: E402

TARGETS = {"demo": 400, "seed": 600}  # MB


def write_long_wav(path: Path, seconds: float, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        done = 0
        while done < seconds:
            part = min(60.0, seconds - done)
            x = synthetic_speech(part, rate, seed=int(done))
            w.writeframes(x.astype("<i2").tobytes())
            done += part


def peak_rss(argv: list[str]) -> tuple[float, float, str]:
    """(peak RSS in MB, wall seconds, stderr) of a command, from /usr/bin/time -v."""
    time_bin = shutil.which("time") or "/usr/bin/time"
    r = subprocess.run([time_bin, "-v", *argv], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench_stream: {' '.join(argv)} failed:\n{r.stderr[-3000:]}")
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
    h, m, s = (float(g or 0) for g in wall.groups())
    return kb / 1024, h * 3600 + m * 60 + s, r.stderr


def run(model: Path, wav: Path, out: Path) -> tuple[float, float, int]:
    argv = [sys.executable, "-m", "deepbrain", "activations", str(wav), "--model", str(model),
            "--out", str(out), "--engine", "numpy", "-q"]
    mb, wall, _ = peak_rss(argv)
    size = sum(p.stat().st_size for p in out.glob("*.ark"))
    shutil.rmtree(out)
    return mb, wall, size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "stream.md"))
    ap.add_argument("--work", help="where the wav and the arks go (default: a temp dir); the "
                    "seed model's arks need about 20 GB an hour")
    args = ap.parse_args()
    if not (shutil.which("time") or Path("/usr/bin/time").exists()):
        print("bench_stream: needs /usr/bin/time (apt-get install time)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="deepbrain-bench-stream-", dir=args.work))
    rows = []
    try:
        wav = work / "long.wav"
        write_long_wav(wav, args.seconds)
        seed = work / "seed-model"
        made_by = make_model(seed, None)
        for name, model in (("demo", ROOT / "models" / "demo"), ("seed", seed)):
            mb, wall, size = run(model, wav, work / "out")
            verdict = "met" if mb <= TARGETS[name] else "NOT met"
            rows.append(f"| {name} ({'5 x 512' if name == 'demo' else '7 x 2048'}) | "
                        f"{mb:.0f} MB | {TARGETS[name]} MB ({verdict}) | {wall:.0f} s | "
                        f"{size / 1e9:.1f} GB |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    text = "\n".join([
        "# Streaming: peak memory for an hour of audio", "",
        f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}; load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end. "
        f"{args.seconds:g} s of synthetic 16 kHz audio, one wav, "
        f"`deepbrain activations --engine numpy` (every layer), peak RSS from "
        f"`/usr/bin/time -v`. The seed-shaped network is random ({made_by}).", "",
        "| model | peak RSS | target | wall time | arks written |",
        "|---|---|---|---|---|", *rows, ""])
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
