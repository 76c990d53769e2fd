#!/usr/bin/env python3
"""GUI benchmark: ``make bench`` runs it when a display can be had (Xvfb is fine) and writes
bench/gui.md (and prints it).

With the seed's maps (7 layers x 2048 units) and synthetic activations (30 s, 3000 frames):

- colour work: the seed's colouring of one frame for all 7 layers (ms a frame);
- region score: deepbrain.regions.region_scores of all 7 layers over the utterance, per
  frame (synthetic unit tables: 39 phones, each unit preferring the phone of the nearest of
  39 random centres on its map, so regions are areas as in real maps; phones of 5..15
  frames);
- view fps: the GL view alone at 1280x720, a new frame's colours every frame, counting
  frames actually presented (QOpenGLWindow.frameSwapped), without and with the phone
  regions (outlines, labels, the spoken phone's region lit, the score traces);
- playback: the whole window at 1280x720 playing 30 s against a silent sink on the wall
  clock, regions on: frames presented per second, frames dropped, and the playhead's lag
  behind the audio clock at each presented frame (clock time at the swap minus the shown
  frame's centre), its drift (the lag's trend over the 30 s) and how many frames were shown
  late (older than the frame under the clock when they reached the screen by more than a
  frame).

Needs the gui extra and ../shared (the seed's maps); run headless as
``xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/bench_gui.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

from deepbrain.audio import Audio, write_wav16  # noqa: E402
from deepbrain.colouring import FrameColours  # noqa: E402
from deepbrain.layermap import read_layer_map  # noqa: E402
from deepbrain.model import Model  # noqa: E402
from deepbrain.nnet1 import AffineTransform, Nnet, Sigmoid, Softmax  # noqa: E402
from deepbrain.frontend import FrontEnd, Stage  # noqa: E402
from deepbrain.options import MfccOptions  # noqa: E402
from deepbrain.maps.units import UnitTable  # noqa: E402
from deepbrain.phonelanes import PhoneLane  # noqa: E402
from deepbrain.pipeline import Activations, freeze_layers  # noqa: E402
from deepbrain.playback import SilentSink, frame_at, frame_centre  # noqa: E402
from deepbrain.regions import region_scores  # noqa: E402
from deepbrain.segments import PhoneSegment  # noqa: E402

SHARED = Path(os.environ.get("DEEPBRAIN_SHARED", ROOT.parent / "shared"))
SEED_MAPS = SHARED / "reference" / "dnn-activation-brain" / "model" / "lda"
LAYERS, UNITS, SECONDS, SHIFT, FRAME_LENGTH = 7, 2048, 30.0, 0.01, 0.025
SIZE = (1280, 720)


def synthetic_activations(frames: int, seed: int = 0) -> dict[int, np.ndarray]:
    """Sigmoid outputs that drift smoothly over time (as speech makes them), per layer."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] * SHIFT
    out = {}
    for k in range(1, LAYERS + 1):
        rate = rng.uniform(0.5, 4.0, UNITS)
        phase = rng.uniform(0, 2 * np.pi, UNITS)
        x = 3 * np.sin(2 * np.pi * rate * t + phase) + rng.standard_normal((frames, UNITS))
        out[k] = (1 / (1 + np.exp(-x))).astype(np.float32)
    return out


PHONES = ("iy ih eh ae ah uw uh aa ey ay oy aw ow er l r w y m n ng ch jh dh b d dx g p t k "
          "z v f th s sh hh sil").split()


def synthetic_tables(maps, seed: int = 0) -> dict[int, UnitTable]:
    """Each unit prefers the phone of the nearest of 38 random centres on its map."""
    rng = np.random.default_rng(seed)
    names = tuple(PHONES[:-1])
    out = {}
    for k, m in maps.items():
        lo, hi = m.vertices.min(axis=0), m.vertices.max(axis=0)
        centres = lo + rng.random((len(names), 2)) * (hi - lo)
        d = np.linalg.norm(m.vertices[:, None, :] - centres[None], axis=2)
        preferred = np.argmin(d, axis=1)
        out[k] = UnitTable(k, names, preferred, rng.integers(0, 38, m.num_units),
                           rng.uniform(3, 5, m.num_units), None, Path("synthetic"))
    return out


def synthetic_lane(frames: int, seed: int = 0) -> PhoneLane:
    """Phones of 5..15 frames, drawn from all 39 (silence too) until the end."""
    rng = np.random.default_rng(seed)
    segs, t = [], 0
    while t < frames:
        n = int(rng.integers(5, 16))
        segs.append(PhoneSegment(PHONES[int(rng.integers(0, len(PHONES)))], t,
                                 min(t + n, frames)))
        t += n
    return PhoneLane(tuple(segs), "synthetic")


def bench_region_score(acts, tables, lane) -> dict:
    frames = next(iter(acts.values())).shape[0]
    region_scores(acts, tables, lane.segments)              # warm up
    runs = []
    for _ in range(7):
        t = time.perf_counter()
        region_scores(acts, tables, lane.segments)
        runs.append(time.perf_counter() - t)
    return {"ms_per_frame": 1e3 * float(np.median(runs)) / frames, "frames": frames,
            "total_ms": 1e3 * float(np.median(runs))}


def seed_like_model(maps) -> Model:
    """A model of the seed's shape held in memory (zero weights: only shapes matter here)."""
    dims = (13,) + (UNITS,) * LAYERS
    comps = []
    for a, b in zip(dims[:-1], dims[1:]):
        comps += [AffineTransform(a, b, linearity=np.zeros((b, a), np.float32),
                                  bias=np.zeros(b, np.float32)), Sigmoid(b, b)]
    comps += [AffineTransform(UNITS, 10, linearity=np.zeros((10, UNITS), np.float32),
                              bias=np.zeros(10, np.float32)), Softmax(10, 10)]
    mfcc = MfccOptions()
    frontend = FrontEnd((Stage("mfcc", mfcc.binary, mfcc, "feats", mfcc.dim),))
    return Model(Path("seed-maps"), Nnet(tuple(comps)), None, frontend, None, maps,
                 tuple(range(1, LAYERS + 1)), None)


def bench_colours(maps, acts) -> dict:
    fc = FrameColours(maps, acts)
    n = next(iter(acts.values())).shape[0]
    for i in range(100):                                   # warm up
        fc.frame_all(i)
    per_frame = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        fc.frame_all(i)                                    # what the window does
        per_frame[i] = time.perf_counter() - t
    return {"median_ms": 1e3 * np.median(per_frame), "p95_ms": 1e3 * np.percentile(per_frame, 95),
            "frames": n}


def pump(app, seconds: float) -> None:
    from PyQt5 import QtCore

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents(QtCore.QEventLoop.AllEvents, 5)


def bench_view_fps(app, maps, acts, seconds: float = 6.0, regions=None) -> dict:
    """The view alone; with ``regions`` (tables, lane) the phone regions on, as the window
    draws them (outlines, labels, the spoken phone's region, score traces)."""
    from deepbrain.gui.mapview import LayerGridView

    view = LayerGridView()
    view.container.resize(*SIZE)
    view.container.show()
    view.set_layers(maps, list(maps), {k: f"Layer {k} \u00b7 {UNITS} sigmoid" for k in maps})
    fc = FrameColours(maps, acts)
    n = fc.num_frames
    state = {"i": 0, "swaps": [], "paint": []}
    spoken = None
    if regions is not None:
        from deepbrain.gui.regionlayer import RegionOverlay
        from deepbrain.gui.scoretrace import ScoreTraces
        from deepbrain.segments import phone_at

        tables, lane = regions
        overlay, traces = RegionOverlay(view), ScoreTraces(view)
        overlay.set_tables(maps, tables)
        overlay.layers_shown()
        overlay.set_shown(True)
        traces.set_scores(region_scores(acts, tables, lane.segments), "said")
        traces.set_shown(True)

        def spoken(i):
            seg = phone_at(lane.segments, i)
            overlay.set_phone(seg.phone if seg else None)
            traces.set_frame(i)

    def next_frame():
        state["swaps"].append(time.perf_counter())
        state["i"] = (state["i"] + 1) % n
        t = time.perf_counter()
        for k, rgba in fc.frame_all(state["i"]).items():
            view.set_colours(k, rgba)
        if spoken is not None:
            spoken(state["i"])
        state["paint"].append(time.perf_counter() - t)
        view.update()

    pump(app, 1.0)
    view.frameSwapped.connect(next_frame)
    view.update()
    cpu0, n0 = time.process_time(), len(state["swaps"])
    pump(app, seconds)
    cpu = (time.process_time() - cpu0) / max(len(state["swaps"]) - n0, 1)
    view.frameSwapped.disconnect(next_frame)
    swaps = np.array(state["swaps"][5:])
    renderer = gl_renderer(view)
    dispose(view.container)
    gaps = np.diff(swaps)
    return {"fps": (len(swaps) - 1) / (swaps[-1] - swaps[0]),
            "frame_ms_median": 1e3 * np.median(gaps), "frame_ms_p95": 1e3 * np.percentile(gaps, 95),
            "cpu_ms": 1e3 * cpu, "renderer": renderer}


def dispose(widget) -> None:
    """Close and delete now (not whenever Python collects it, maybe mid-paint)."""
    import gc

    from PyQt5 import QtCore

    widget.close()
    widget.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
    gc.collect()


def gl_renderer(view) -> str:
    from OpenGL import GL

    view.makeCurrent()
    try:
        return (GL.glGetString(GL.GL_RENDERER) or b"?").decode()
    finally:
        view.doneCurrent()


def bench_playback(app, maps, acts, wav: Path, seconds: float, regions=None) -> dict:
    from deepbrain.gui.window import MainWindow
    from PyQt5 import QtCore

    settings = QtCore.QSettings(str(wav.with_suffix(".ini")), QtCore.QSettings.IniFormat)
    sink = SilentSink()
    window = MainWindow(settings=settings, sink_factory=lambda: (sink, "silent"),
                        remember=False)
    window.resize(*SIZE)
    window.show()
    window.set_model(seed_like_model(maps))
    window.set_shown_layers(list(maps))
    n = next(iter(acts.values())).shape[0]
    if regions is not None:
        window.insight.set_unit_tables(regions[0])
    window.show_activations(Activations("bench", freeze_layers(acts), None, SHIFT, "synthetic"),
                            wav)
    if regions is not None:
        window.insight.set_said(regions[1])
        window.insight.set_regions(True)
    pump(app, 1.0)
    records = []   # (audio clock at the swap, frame on screen)

    def swapped():
        if window.playhead is not None and window.playhead.playing:
            records.append((window.playhead.time(), window.frame))

    window.view.frameSwapped.connect(swapped)
    window.play()
    t0 = time.perf_counter()
    while window.playhead.playing and time.perf_counter() - t0 < seconds + 5:
        app.processEvents(QtCore.QEventLoop.AllEvents, 5)
    wall = time.perf_counter() - t0
    window.view.frameSwapped.disconnect(swapped)
    latency = window._latency
    dispose(window)
    clock = np.array([r[0] for r in records])
    shown = np.array([r[1] for r in records])
    lag = clock - np.array([frame_centre(int(f), SHIFT, FRAME_LENGTH) for f in shown])
    under = np.array([frame_at(c, SHIFT, FRAME_LENGTH, n) for c in clock])
    tenth = max(len(lag) // 10, 1)
    slope = np.polyfit(clock, lag, 1)[0] if len(lag) > 2 else 0.0
    distinct = np.unique(shown).shape[0]
    return {"wall_s": wall, "presented": len(records), "distinct": distinct, "frames": n,
            "fps": len(records) / wall, "dropped": n - distinct,
            "lag_median_ms": 1e3 * np.median(lag), "lag_p95_ms": 1e3 * np.percentile(lag, 95),
            "lag_max_ms": 1e3 * lag.max(), "lag_min_ms": 1e3 * lag.min(),
            "abs_lag_max_ms": 1e3 * np.abs(lag).max(),
            "abs_lag_p95_ms": 1e3 * np.percentile(np.abs(lag), 95),
            "latency_ms": 1e3 * latency,
            "drift_ms": 1e3 * (lag[-tenth:].mean() - lag[:tenth].mean()),
            "drift_slope_ms_per_min": 1e3 * slope * 60,
            "late": int(np.sum(under - shown > 1)), "early": int(np.sum(shown - under > 1)),
            "backwards": int(np.sum(np.diff(shown) < 0))}


def report(colours, score, view, view_regions, play, seconds) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    c, v, vr, p = colours, view, view_regions, play
    rows = [
        ("colour work, all 7 layers, one frame",
         f"{c['median_ms']:.2f} ms median, {c['p95_ms']:.2f} ms p95 ({c['frames']} frames)",
         "<= 1 ms"),
        ("region score, all 7 layers (deepbrain.regions.region_scores)",
         f"{score['ms_per_frame']:.4f} ms a frame ({score['total_ms']:.1f} ms for "
         f"{score['frames']} frames)", "<= 0.2 ms"),
        ("GL view alone, new colours every frame",
         f"{v['fps']:.1f} fps ({v['frame_ms_median']:.1f} ms median, "
         f"{v['frame_ms_p95']:.1f} ms p95 a frame; {v['cpu_ms']:.1f} ms of CPU a frame, "
         f"all threads)", ">= 30 fps"),
        ("GL view alone, regions on (outlines, labels, spoken region lit, score traces)",
         f"{vr['fps']:.1f} fps ({vr['frame_ms_median']:.1f} ms median, "
         f"{vr['frame_ms_p95']:.1f} ms p95 a frame; {vr['cpu_ms']:.1f} ms of CPU a frame, "
         f"all threads)", ">= 30 fps"),
        (f"whole window playing {seconds:.0f} s, regions on",
         f"{p['fps']:.1f} frames presented a second; {p['distinct']} of {p['frames']} "
         f"frames shown, {p['dropped']} dropped", ">= 30 fps"),
        ("picture vs sound at each presented frame: audio clock at the swap minus the "
         "shown frame's centre",
         f"median {p['lag_median_ms']:+.1f} ms, range {p['lag_min_ms']:+.1f} .. "
         f"{p['lag_max_ms']:+.1f} ms; abs p95 {p['abs_lag_p95_ms']:.1f} ms, abs max "
         f"{p['abs_lag_max_ms']:.1f} ms", "<= 20 ms"),
        (f"drift over {seconds:.0f} s (mean lag of the last tenth minus the first tenth's)",
         f"{p['drift_ms']:+.2f} ms ({p['drift_slope_ms_per_min']:+.2f} ms a minute by a "
         f"linear fit)", "~0"),
        ("frames shown late / early (more than one frame off the one under the clock at "
         "the swap) / backwards", f"{p['late']} / {p['early']} / {p['backwards']}", "0"),
    ]
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    return f"""# GUI benchmark

`scripts/bench_gui.py`, {time.strftime('%Y-%m-%d %H:%M')}: {platform.machine()}, \
{os.cpu_count()} cores (load average {load} at the end: other work shares them), Python \
{platform.python_version()}, GL renderer {v['renderer']}, display {os.environ.get('DISPLAY')}.
The seed's maps (7 layers x 2048 units, ~4070 triangles each) with synthetic sigmoid
activations, window {SIZE[0]}x{SIZE[1]}; playback against a silent sink on the wall clock.
Regions: synthetic unit tables (38 phones as areas of each map) and phones of 5..15 frames.

| what | figure | aim |
|---|---|---|
{table}

CPU time a frame (the process's, all threads: llvmpipe renders on several) says what a frame
costs whatever else runs on the machine; frames a second say what one sees here and now.

A frame is "under the clock" from 5 ms before its centre to 5 ms after, so even a perfect
viewer's figures spread over -5..+5 ms. The window picks the frame that will be under the
clock when it reaches the screen: the clock plus its measured latency from choosing a frame
to its swap (colouring, GL drawing, compositing; {p['latency_ms']:.1f} ms at the end of this
run). Frames that cannot be drawn in time are skipped ("dropped"), never shown late.
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "bench" / "gui.md"))
    p.add_argument("--seconds", type=float, default=SECONDS)
    args = p.parse_args(argv)
    if not (SEED_MAPS / "1" / "vertices").is_file():
        print(f"bench_gui: the seed's maps are not at {SEED_MAPS}; skipped", file=sys.stderr)
        return 0
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("bench_gui: no display; run under xvfb-run -a", file=sys.stderr)
        return 2
    maps = {k: read_layer_map(SEED_MAPS / str(k), k, UNITS) for k in range(1, LAYERS + 1)}
    frames = int((args.seconds - FRAME_LENGTH) / SHIFT) + 1
    acts = synthetic_activations(frames)
    colours = bench_colours(maps, acts)
    print(f"colours: {colours['median_ms']:.3f} ms/frame median", file=sys.stderr)
    regions = (synthetic_tables(maps), synthetic_lane(frames))
    score = bench_region_score(acts, *regions)
    print(f"region score: {score['ms_per_frame']:.4f} ms/frame", file=sys.stderr)

    from deepbrain.gui.app import application
    app = application()
    view = bench_view_fps(app, maps, acts)
    print(f"view: {view['fps']:.1f} fps", file=sys.stderr)
    view_regions = bench_view_fps(app, maps, acts, regions=regions)
    print(f"view, regions on: {view_regions['fps']:.1f} fps", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "bench.wav"
        rng = np.random.default_rng(0)
        noise = np.clip(rng.standard_normal(int(args.seconds * 16000)) * 2000, -32768, 32767)
        write_wav16(Audio(np.rint(noise).astype(np.float32), 16000, "bench"), wav)
        play = bench_playback(app, maps, acts, wav, args.seconds, regions)
    text = report(colours, score, view, view_regions, play, args.seconds)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
