"""The real window under Xvfb, driven as a person would, looking at real GL pixels."""

from __future__ import annotations

import threading
import time
import wave

import numpy as np
import pytest

pytest.importorskip("PyQt5.QtWidgets", exc_type=ImportError)  # Qt loads: libGL there
pytest.importorskip("pyqtgraph")
pytest.importorskip("OpenGL")
pytest.importorskip("pytestqt")

from PyQt5 import QtCore, QtTest  # noqa: E402

from deepbrain.errors import KaldiError  # noqa: E402
from deepbrain.gui.window import LATENCY_MAX  # noqa: E402
from deepbrain.pipeline import Activations, EngineChoice, Progress, freeze_layers  # noqa: E402
from deepbrain.playback import frame_at  # noqa: E402
from deepbrain.recording import ArraySource  # noqa: E402
from guisupport import (DeviceSink, ManualSink, cell_pixels, close_windows,  # noqa: E402
                        lit_fraction, needs_display, write_mapped_tiny_model,
                        write_seed_model, write_speech_wav)
from support import speechlike  # noqa: E402

pytestmark = [pytest.mark.gui, needs_display]

LOAD_TIMEOUT = 60000


@pytest.fixture
def settings(tmp_path):
    return QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.IniFormat)


@pytest.fixture
def tiny(tmp_path):
    return write_mapped_tiny_model(tmp_path / "model")


@pytest.fixture
def wav(tmp_path):
    return write_speech_wav(tmp_path / "speech.wav", seconds=1.0)


@pytest.fixture
def make_window(qtbot, settings, tmp_path):
    """A shown MainWindow with a test-driven sink and (optionally) source; closed and
    deleted at the end of the test."""
    from deepbrain.gui.window import MainWindow

    windows = []

    def make(sink=None, source=None, engine="numpy", **kw):
        sink = sink or ManualSink()
        w = MainWindow(settings=settings, sink_factory=lambda: (sink, "test sink"),
                       source_factory=source or (lambda: ArraySource(np.zeros(0))),
                       engine=engine, recordings=tmp_path / "recordings", **kw)
        windows.append(w)
        w.resize(1000, 700)
        w.show()
        qtbot.waitExposed(w)
        w.sink_for_test = sink
        return w
    yield make
    close_windows(windows)


def load(qtbot, window, model, wav):
    assert window.load_model(model)
    with qtbot.waitSignal(window.result_shown, timeout=LOAD_TIMEOUT):
        window.load_wav(wav)
    qtbot.wait(50)


def grab(qtbot, window):
    window.view.update()
    qtbot.wait(30)
    return cell_pixels(window.view)


def test_each_layer_is_drawn_and_changes_between_frames(qtbot, make_window, tiny, wav):
    w = make_window()
    load(qtbot, w, tiny, wav)
    assert sorted(w.view.meshes) == [1, 2]
    first = grab(qtbot, w)
    for k, px in first.items():
        assert px.size and lit_fraction(px) > 0.3, f"layer {k} is blank"
        assert len(np.unique(px.reshape(-1, 3), axis=0)) > 20, f"layer {k} is one colour"
    w.show_frame(60)
    later = grab(qtbot, w)
    for k in first:
        changed = np.mean(np.any(first[k] != later[k], axis=2))
        assert changed > 0.05, f"layer {k} did not change between frames 0 and 60"
    assert w.transport.frame_box.value() == 60 and w.transport.slider.value() == 60


def test_seed_maps_all_seven_layers(qtbot, make_window, tmp_path):
    model = write_seed_model(tmp_path / "seed")
    w = make_window()
    load(qtbot, w, model, write_speech_wav(tmp_path / "s.wav", seconds=0.6))
    assert sorted(w.view.meshes) == [1, 2, 3, 4, 5, 6]      # the seed's layers file says 6
    w.set_shown_layers([1, 2, 3, 4, 5, 6, 7])
    assert sorted(w.view.meshes) == [1, 2, 3, 4, 5, 6, 7]
    a = grab(qtbot, w)
    w.show_frame(30)
    b = grab(qtbot, w)
    for k in range(1, 8):
        assert lit_fraction(a[k]) > 0.3, f"layer {k} is blank"
        assert np.mean(np.any(a[k] != b[k], axis=2)) > 0.05, f"layer {k} did not change"


def test_play_follows_the_audio_clock_and_drops_frames(qtbot, make_window, tiny, wav):
    w = make_window()
    load(qtbot, w, tiny, wav)
    sink = w.sink_for_test
    w.transport.play_button.click()
    assert w.playhead.playing and sink.stream is not None
    n = w.colours.num_frames

    def under_clock(t):  # the window looks ahead by its measured latency (<= LATENCY_MAX)
        return lambda: frame_at(t, 0.01, 0.025, n) <= w.frame <= \
            frame_at(t + LATENCY_MAX, 0.01, 0.025, n)
    sink.advance(0.5)
    qtbot.waitUntil(under_clock(0.5), timeout=2000)   # straight there: frames dropped
    sink.advance(0.2)
    qtbot.waitUntil(under_clock(0.7), timeout=2000)
    w.transport.pause_button.click()
    paused = frame_at(0.7, 0.01, 0.025, n)
    assert not w.playhead.playing and w.frame == paused
    sink.advance(10.0)  # a paused clock is not listened to
    qtbot.wait(50)
    assert w.frame == paused
    w.transport.stop_button.click()
    assert w.frame == 0


def test_play_runs_to_the_end_and_stops(qtbot, make_window, tiny, wav):
    w = make_window()
    load(qtbot, w, tiny, wav)
    w.play()
    w.sink_for_test.advance(5.0)
    qtbot.waitUntil(lambda: not w.playhead.playing, timeout=2000)
    assert w.frame == w.colours.num_frames - 1
    assert w.transport.play_button.isEnabled()


def test_the_sink_hears_the_wav_at_each_speed(qtbot, make_window, tiny, wav):
    sink = DeviceSink()
    w = make_window(sink=sink)
    load(qtbot, w, tiny, wav)
    with wave.open(str(wav)) as f:
        original = np.frombuffer(f.readframes(f.getnframes()), "<i2")
    w.play()
    for _ in range(200):
        sink.pump(256)
    heard = sink.samples()
    assert np.array_equal(heard, original[:heard.shape[0]]) and heard.shape[0] > 16000 * 0.9
    w.stop()
    w.transport.speed_box.setCurrentIndex(1)   # 0.5x
    w.play()
    sink.pump(3200)
    slow = sink.samples()
    assert np.array_equal(slow[::2][:1600], original[:1600])  # twice as many samples
    sink.advance(0.0)
    w.pause()


def test_keyboard_space_and_arrows(qtbot, make_window, tiny, wav):
    w = make_window()
    load(qtbot, w, tiny, wav)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=2000)
    qtbot.keyClick(w, QtCore.Qt.Key_Right)
    qtbot.keyClick(w, QtCore.Qt.Key_Right)
    assert w.frame == 2
    qtbot.keyClick(w, QtCore.Qt.Key_Left)
    assert w.frame == 1
    qtbot.keyClick(w, QtCore.Qt.Key_Right, QtCore.Qt.ShiftModifier)
    assert w.frame == 11
    qtbot.keyClick(w, QtCore.Qt.Key_Space)
    assert w.playhead.playing
    qtbot.keyClick(w, QtCore.Qt.Key_Space)
    assert not w.playhead.playing
    # after a click on the maps (a GL window of its own) the keys still work
    QtTest.QTest.mouseClick(w.view, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier,
                            QtCore.QPoint(50, 50))
    frame = w.frame
    QtTest.QTest.keyClick(w.view, QtCore.Qt.Key_Right)
    qtbot.waitUntil(lambda: w.frame == frame + 1, timeout=2000)


def test_frame_entry_go_and_clicking_the_strip_seek(qtbot, make_window, tiny, wav):
    w = make_window()
    load(qtbot, w, tiny, wav)
    w.transport.frame_box.setValue(42)
    w.transport.go_button.click()
    assert w.frame == 42
    plot = w.strip.spec
    vb = plot.getPlotItem().vb
    scene_pos = vb.mapViewToScene(QtCore.QPointF(0.75, 2.0))
    pos = plot.mapFromScene(scene_pos)
    qtbot.mouseClick(plot.viewport(), QtCore.Qt.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: abs(w.frame - frame_at(0.75, 0.01, 0.025, 10 ** 6)) <= 1,
                    timeout=2000)
    assert abs(w.strip.cursor() - 0.75) < 0.02


def test_layers_and_colour_options(qtbot, make_window, tiny, wav):
    w = make_window()
    load(qtbot, w, tiny, wav)
    w.set_shown_layers([2])
    assert list(w.view.meshes) == [2]
    jet = grab(qtbot, w)[2]
    w.colour_controls.colormap.setCurrentText("viridis")
    viridis = grab(qtbot, w)[2]
    assert np.mean(np.any(jet != viridis, axis=2)) > 0.2
    w.colour_controls.scale.setCurrentIndex(1)   # absolute: tanh layer, range [-1, 1]
    assert w.colour_bar.labels()[:2] == ("1", "-1")
    w.colour_controls.alpha.setValue(0.0)
    assert w.colours.options.alpha == 0.0
    assert w.settings.value("colour/map") == "viridis"


def test_model_is_remembered(qtbot, make_window, tiny, settings):
    w = make_window()
    assert w.load_model(tiny)
    assert settings.value("model") == str(tiny.absolute())


def test_bad_model_shows_a_dialog(qtbot, make_window, tmp_path):
    w = make_window()
    assert not w.load_model(tmp_path / "nowhere")
    qtbot.waitUntil(lambda: w.error_box is not None and w.error_box.isVisible(), timeout=2000)
    assert "not a directory" in w.error_box.text()
    w.error_box.close()


def test_bad_wav_shows_a_dialog_and_the_window_lives_on(qtbot, make_window, tiny, tmp_path):
    w = make_window()
    assert w.load_model(tiny)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    w.load_wav(bad)
    qtbot.waitUntil(lambda: w.error_box is not None and w.error_box.isVisible(),
                    timeout=LOAD_TIMEOUT)
    assert "not a RIFF/WAVE file" in w.error_box.text() + w.error_box.informativeText()
    assert not w.processing and not w.progress.isVisible()


def fake_engine(run) -> EngineChoice:
    return EngineChoice("kaldi", "test", run)


def test_kaldi_failure_dialog_shows_the_log(qtbot, make_window, tiny, wav):
    def run(utts, model, request, progress=None, cancel=None):
        progress(Progress("mfcc", 1, 1))
        raise KaldiError("stage forward failed: nnet-forward ... (exit 1)\n"
                         "log: /tmp/work/exp/log/forward.1.log\n"
                         "ERROR (nnet-forward) Dimension mismatch 440 vs 40")
    w = make_window(engine=fake_engine(run))
    assert w.load_model(tiny)
    w.load_wav(wav)
    qtbot.waitUntil(lambda: w.error_box is not None and w.error_box.isVisible(),
                    timeout=LOAD_TIMEOUT)
    assert "forward.1.log" in w.error_box.detailedText()
    assert "Dimension mismatch" in w.error_box.detailedText()


def test_progress_per_stage_and_cancel(qtbot, make_window, tiny, wav):
    started, seen_cancel = threading.Event(), threading.Event()

    def run(utts, model, request, progress=None, cancel=None):
        progress(Progress("mfcc", 1, 1))
        progress(Progress("cmvn", 1, 1))
        started.set()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 20:
            if cancel():
                seen_cancel.set()
                from deepbrain.errors import Cancelled
                raise Cancelled("cancelled")
            time.sleep(0.01)
        yield Activations("x", freeze_layers({}), None, 0.01, "kaldi")

    w = make_window(engine=fake_engine(run))
    assert w.load_model(tiny)
    w.load_wav(wav)
    assert w.progress.isVisible() and w.cancel_button.isVisible()
    qtbot.waitUntil(lambda: w.progress.format().startswith("cmvn"), timeout=5000)
    assert w.progress.value() == 2 and w.progress.maximum() == 3  # mfcc, cmvn, forward
    qtbot.mouseClick(w.cancel_button, QtCore.Qt.LeftButton)
    assert not w.processing and not w.progress.isVisible()
    assert "cancelled" in w.statusBar().currentMessage()
    assert seen_cancel.wait(5)


def test_recording_through_an_injected_source(qtbot, make_window, tiny, tmp_path):
    speech = speechlike(1.0)
    source = ArraySource(speech, 16000, chunk=1600)
    w = make_window(source=lambda: source)
    assert w.load_model(tiny)
    w.record_action.trigger()
    assert w.recording.recording
    qtbot.waitUntil(w.record_indicator.isVisible, timeout=2000)
    assert source.started_rate == 16000
    qtbot.waitUntil(lambda: w.recording.recorder.num_samples >= speech.shape[0], timeout=5000)
    assert w.record_indicator.meter.value() > 20          # speech is well above -40 dBFS
    assert "REC" in w.record_indicator.label.text()
    with qtbot.waitSignal(w.result_shown, timeout=LOAD_TIMEOUT):
        w.record_action.trigger()                          # stop: save, then process
    qtbot.waitUntil(lambda: not w.record_indicator.isVisible(), timeout=2000)
    saved = sorted((tmp_path / "recordings").glob("rec-*.wav"))
    assert len(saved) == 1 and w.wav == saved[0]
    with wave.open(str(saved[0])) as f:
        assert f.getframerate() == 16000 and f.getnchannels() == 1
        assert np.array_equal(np.frombuffer(f.readframes(f.getnframes()), "<i2"), speech)
    assert w.colours.num_frames == 98


def test_recording_needs_a_model(qtbot, make_window):
    w = make_window()
    w.record_action.trigger()
    assert not w.recording.recording and w.error_box.isVisible()


def test_another_wav_and_another_model_refresh_the_view(qtbot, make_window, tiny, wav, tmp_path):
    w = make_window()
    load(qtbot, w, tiny, wav)
    w.show_frame(50)
    first = grab(qtbot, w)
    longer = write_speech_wav(tmp_path / "longer.wav", seconds=2.0, seed=3)
    with qtbot.waitSignal(w.result_shown, timeout=LOAD_TIMEOUT):
        w.load_wav(longer)
    assert w.colours.num_frames == 198 and w.frame == 0
    assert w.transport.slider.maximum() == 197 and abs(w.strip.duration - 2.0) < 1e-9
    w.show_frame(50)
    assert np.mean(np.any(grab(qtbot, w)[1] != first[1], axis=2)) > 0.05
    other = write_mapped_tiny_model(tmp_path / "other")
    with qtbot.waitSignal(w.result_shown, timeout=LOAD_TIMEOUT):   # the wav is run again
        assert w.load_model(other)
    assert w.wav == longer and sorted(w.view.meshes) == [1, 2]
