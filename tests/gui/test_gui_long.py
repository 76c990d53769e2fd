"""Long audio in the real window under Xvfb: a 20-minute file opens, its frames are computed
around the playhead (never all of it), seeking far changes the pixels, the panels work on
what is computed; and what goes wrong: a file cut while it opens or after, seeking past the
end, cancel during the load, saved activations read a few rows at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

pytest.importorskip("PyQt5.QtWidgets", exc_type=ImportError)  # Qt loads: libGL there
pytest.importorskip("pyqtgraph")
pytest.importorskip("OpenGL")
pytest.importorskip("pytestqt")

from PyQt5 import QtCore  # noqa: E402

from deepbrain.cli import main  # noqa: E402
from deepbrain.framesummary import segments_within  # noqa: E402
from deepbrain.pipeline import Request, compute_activations, utterances_from_wavs  # noqa: E402
from deepbrain.regions import region_scores  # noqa: E402
from deepbrain.wavfile import WavReader  # noqa: E402
from guisupport import (ManualSink, cell_pixels, close_windows, lit_fraction,  # noqa: E402
                        needs_display, write_speech_wav)
from insightsupport import write_insight_model  # noqa: E402
from support import ROOT, speechlike  # noqa: E402

pytestmark = [pytest.mark.gui, needs_display]
LOAD_TIMEOUT = 180000
DEMO = ROOT / "models" / "demo"


def write_minutes(path, minutes: float, seed: int = 0):
    """A long wav written a minute at a time (never whole in memory)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        done = 0.0
        while done < minutes:
            part = min(1.0, minutes - done)
            w.writeframes(speechlike(60.0 * part, seed=seed + int(done)).astype("<i2").tobytes())
            done += part
    return path


@pytest.fixture(scope="module")
def twenty(tmp_path_factory):
    return write_minutes(tmp_path_factory.mktemp("long") / "twenty.wav", 20.0)


@pytest.fixture
def make_window(qtbot, tmp_path):
    from deepbrain.gui.window import MainWindow

    windows = []

    def make(**kw):
        settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.IniFormat)
        sink = ManualSink()
        w = MainWindow(settings=settings, sink_factory=lambda: (sink, "test"),
                       engine="numpy", remember=False, recordings=tmp_path / "rec", **kw)
        windows.append(w)
        w.resize(1000, 700)
        w.show()
        qtbot.waitExposed(w)
        w.sink_for_test = sink
        return w
    yield make
    close_windows(windows)


def shown(qtbot, w, frame=None):
    """Wait until ``frame`` (default: the current one) is computed and drawn; its pixels."""
    frame = w.frame if frame is None else frame
    qtbot.waitUntil(lambda: w.frame == frame and w._waiting is None, timeout=60000)
    w.view.update()
    qtbot.wait(40)
    return cell_pixels(w.view)


def test_twenty_minutes_open_and_seeking_far_changes_the_pixels(qtbot, make_window, twenty):
    w = make_window()
    assert w.load_model(DEMO)
    with qtbot.waitSignal(w.result_shown, timeout=LOAD_TIMEOUT):
        w.load_wav(twenty)
    n = 119998
    assert w.acts is None and not w.feed.held and w.feed.num_frames == n
    assert w.colours.num_frames == n and w.transport.slider.maximum() == n - 1
    assert abs(w.strip.duration - 1200.0) < 1e-6
    assert "frames computed around the playhead" in w.statusBar().currentMessage()
    first = shown(qtbot, w, 0)
    for k, px in first.items():
        assert lit_fraction(px) > 0.3, f"layer {k} is blank"
    w.seek_time(1000.0)                       # 16 minutes on: computed on demand
    far = 99999                               # frame_at(1000.0)
    assert w.frame == far
    later = shown(qtbot, w, far)
    for k in first:
        assert np.mean(np.any(first[k] != later[k], axis=2)) > 0.05, f"layer {k} unchanged"
    assert f"frame {far} / {n - 1}" in w.view.note
    cache = w.feed.cache
    assert cache.nbytes <= cache.budget and cache.has(far) and not cache.has(n // 2)
    assert cache.computed < n // 10                  # never the whole utterance
    # past the end: the last frame
    w.show_frame(10 ** 9)
    assert w.frame == n - 1
    end = shown(qtbot, w, n - 1)
    w.seek_time(1e9)
    assert w.frame == n - 1 and end
    # playing from far in: the frames under the clock are computed ahead of it
    w.show_frame(far)
    w.play()
    w.sink_for_test.advance(1.5)
    qtbot.waitUntil(lambda: w.frame >= far + 140 and w._waiting is None, timeout=20000)
    w.pause()


RSS_PROBE = r"""
def peak_mb():  # this process's own peak: VmHWM starts anew at exec, unlike
    # ru_maxrss, which keeps the RSS of the (v)forking parent, e.g. a big pytest
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
import json, resource, sys, time
from PyQt5 import QtCore
from deepbrain.gui.app import application
app = application()
from deepbrain.gui.window import MainWindow
from deepbrain.playback import SilentSink
settings = QtCore.QSettings(sys.argv[3], QtCore.QSettings.IniFormat)
w = MainWindow(settings=settings, sink_factory=lambda: (SilentSink(), "silent"),
               engine="numpy", remember=False)
w.resize(1000, 700); w.show()
w.load_model(sys.argv[2])
done = []
w.result_shown.connect(lambda: done.append(time.perf_counter()))
t0 = time.perf_counter()
w.load_wav(sys.argv[1])
while not done:
    app.processEvents(QtCore.QEventLoop.AllEvents, 20)
def until(ok):
    while not ok():
        app.processEvents(QtCore.QEventLoop.AllEvents, 20)
n = w.feed.num_frames
for f in (0, n // 2, n - 1, n // 4, 3 * n // 4):
    w.show_frame(f)
    until(lambda: w._waiting is None)
    t = time.perf_counter()
    until(lambda: time.perf_counter() - t > 1.0)   # the cache fills ahead of it
print(json.dumps({"open_s": done[0] - t0, "frames": n, "cache_mb": w.feed.cache.nbytes / 2**20,
                  "peak_mb": peak_mb()}))
w.close()
"""


@pytest.mark.slow
def test_twenty_minutes_in_the_window_peak_in_flat_memory(tmp_path, twenty):
    """The whole window with 20 minutes through the demo model (1.25 GB of activations),
    seeking to five places and letting the cache fill, in a process of its own."""
    r = subprocess.run([sys.executable, "-c", RSS_PROBE, str(twenty), str(DEMO),
                        str(tmp_path / "s.ini")], capture_output=True, text=True,
                       timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT / "app")})
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    print(got)
    assert got["frames"] == 119998 and got["cache_mb"] <= 96
    assert got["peak_mb"] < 700, got


def test_cancel_during_the_load_and_then_open_another(qtbot, make_window, twenty, tmp_path):
    w = make_window()
    assert w.load_model(DEMO)
    w.load_wav(twenty)
    qtbot.waitUntil(lambda: w.progress.format().startswith("reading the audio"),
                    timeout=60000)
    job = w.processor.job
    w.cancel_button.click()
    assert not w.processing and not w.progress.isVisible()
    assert "cancelled" in w.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not job.running, timeout=30000)
    assert w.feed is None and w.acts is None
    small = write_speech_wav(tmp_path / "small.wav", 1.0)
    with qtbot.waitSignal(w.result_shown, timeout=LOAD_TIMEOUT):
        w.load_wav(small)
    assert w.feed.held and w.feed.num_frames == 98


def test_a_wav_cut_while_it_opens_says_so(qtbot, make_window, tmp_path, monkeypatch):
    wav = write_minutes(tmp_path / "cut.wav", 1.0)
    original = WavReader.pieces

    def cutting(self, *a, **kw):
        for i, piece in enumerate(original(self, *a, **kw)):
            if i == 1:
                os.truncate(wav, 100000)
            yield piece
    monkeypatch.setattr(WavReader, "pieces", cutting)
    w = make_window()
    w.processor.whole_bytes = 1 << 20           # a minute through the demo model is long
    assert w.load_model(DEMO)
    w.load_wav(wav)
    qtbot.waitUntil(lambda: w.error_box is not None and w.error_box.isVisible(),
                    timeout=LOAD_TIMEOUT)
    assert "ended while it was read" in w.error_box.text() + w.error_box.informativeText()
    assert w.feed is None and not w.processing


def test_a_file_cut_after_it_opened_still_plays_and_seeks(qtbot, make_window, tmp_path):
    wav = write_minutes(tmp_path / "later.wav", 1.0)
    w = make_window()
    w.processor.whole_bytes = 1 << 20
    assert w.load_model(DEMO)
    with qtbot.waitSignal(w.result_shown, timeout=LOAD_TIMEOUT):
        w.load_wav(wav)
    assert not w.feed.held
    first = shown(qtbot, w, 0)
    os.truncate(wav, 0)                          # the window read it once: nothing changes
    w.show_frame(5000)
    later = shown(qtbot, w, 5000)
    assert np.mean(np.any(first[1] != later[1], axis=2)) > 0.05
    assert w.error_box is None


@pytest.fixture
def insight_long(qtbot, make_window, tmp_path, monkeypatch):
    """The insight model with a 40 s file opened as long (6 s computed ahead of the playhead,
    2 s behind), phones from a CTM."""
    from insightsupport import write_lane_ctm

    monkeypatch.setattr("deepbrain.gui.frames.AHEAD", 600)
    monkeypatch.setattr("deepbrain.gui.frames.BEHIND", 200)
    model = write_insight_model(tmp_path / "model")
    wav = write_speech_wav(tmp_path / "talk.wav", seconds=40.0)
    w = make_window()
    w.processor.whole_bytes = 1 << 16
    segs = write_lane_ctm(tmp_path / "phones.ctm", "talk", 3998)
    w.insight.phones_file = tmp_path / "phones.ctm"
    assert w.load_model(model)
    with qtbot.waitSignal(w.result_shown, timeout=LOAD_TIMEOUT):
        w.load_wav(wav)
    assert not w.feed.held
    want = next(iter(compute_activations(utterances_from_wavs([wav]), w.model,
                                         Request((1, 2), output=True), "numpy")))
    return w, want, segs


def test_panels_work_on_the_frames_computed(qtbot, insight_long):
    w, want, segs = insight_long
    w.insight.set_regions(True)
    w.insight.pin(1, 7)
    w.show_frame(3000)
    shown(qtbot, w, 3000)
    qtbot.wait(400)                              # the panels are redrawn a few times a second
    known = np.array([w.feed.cache.has(i) for i in range(3998)])
    assert known[3000] and not known.all()
    # the pinned unit's trace: the frames computed, NaN elsewhere, over 20 s around the playhead
    a, b = w.insight.span
    assert a <= 3000 < b and b - a == 2000
    x, y = w.insight.inspector.cards[0]._curve.getData()
    assert np.allclose(x[0], (a + 0.5) * 0.01)
    have = known[a:b]
    np.testing.assert_allclose(y[have], want.layers[1][a:b, 7][have], rtol=1e-5, atol=1e-6)
    assert np.isnan(y[~have]).all()
    # the region scores: the core's, for the frames computed
    full = region_scores(want.layers, w.insight.tables, segs, {1: 0.0, 2: -1.0})
    got = w.insight.traces.scores
    for k in (1, 2):
        np.testing.assert_allclose(got[k].per_frame[known], full[k].per_frame[known],
                                   rtol=1e-5, atol=1e-6, equal_nan=True)
        assert np.isnan(got[k].per_frame[~known]).all()
    assert w.insight.traces.window == (a, b)
    # the heard lane: the model's top phone where computed
    heard = w.insight.heard.values
    assert (heard[~known] == -1).all()
    assert np.array_equal(heard[known], np.argmax(want.output, axis=1)[known])
    assert [s.phone for s in segments_within(w.insight.said.segments, 0, 10)] == ["sil"]


def test_transcripts_are_not_aligned_to_long_audio(qtbot, insight_long):
    w, _, _ = insight_long
    w.insight.align_text("hello")
    qtbot.waitUntil(lambda: w.error_box is not None and w.error_box.isVisible(), timeout=5000)
    assert "computed around the playhead" in w.error_box.text() + \
        w.error_box.informativeText() + (w.error_box.detailedText() or "")


def test_saved_activations_of_a_long_wav_are_read_as_needed(qtbot, make_window, tmp_path,
                                                           monkeypatch):
    monkeypatch.setattr("deepbrain.gui.frames.AHEAD", 300)
    monkeypatch.setattr("deepbrain.gui.frames.BEHIND", 100)
    model = write_insight_model(tmp_path / "model")
    wav = write_speech_wav(tmp_path / "talk.wav", seconds=30.0)
    out = tmp_path / "acts"
    assert main(["activations", str(wav), "--model", str(model), "--out", str(out),
                 "--engine", "numpy", "--output", "-q"]) == 0
    w = make_window()
    w.processor.whole_bytes = 1 << 16
    assert w.load_model(model)
    w.show_saved(out, wav)
    assert w.feed.source.engine.startswith("saved") and not w.feed.held
    first = shown(qtbot, w, 0)
    w.show_frame(2500)
    later = shown(qtbot, w, 2500)
    assert np.mean(np.any(first[1] != later[1], axis=2)) > 0.05
    want = next(iter(compute_activations(utterances_from_wavs([wav]), w.model,
                                         Request((1, 2)), "numpy")))
    assert np.array_equal(w.feed.rows(2500)[2], want.layers[2][2500])
    # the ark cut while the window reads it: a dialog naming it, the window lives on
    ark = out / "layer1.ark"
    os.truncate(ark, ark.stat().st_size // 3)
    w.show_frame(2990)
    qtbot.waitUntil(lambda: w.error_box is not None and w.error_box.isVisible(),
                    timeout=20000)
    assert "layer1.ark" in w.error_box.text() + w.error_box.informativeText()
