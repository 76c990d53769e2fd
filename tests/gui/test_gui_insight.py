"""The insight panels in the real window under Xvfb: phone lanes, regions, the view by
phone, the unit inspector, the selectivity picture and exports, looked at in real pixels."""

from __future__ import annotations

import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

pytest.importorskip("PyQt5.QtWidgets", exc_type=ImportError)  # Qt loads: libGL there
pytest.importorskip("pyqtgraph")
pytest.importorskip("OpenGL")
pytest.importorskip("pytestqt")

from PyQt5 import QtCore, QtGui, QtTest, QtWidgets  # noqa: E402

from deepbrain.errors import DeepbrainError, OutputExistsError  # noqa: E402
from deepbrain.phoneclasses import MANNER_COLOURS, phone_palette  # noqa: E402
from deepbrain.phonelanes import lane_from_output  # noqa: E402
from deepbrain.regions import region_scores  # noqa: E402
from deepbrain.segments import PhoneSegment, phone_at  # noqa: E402
from guisupport import (ManualSink, cell_pixels, close_windows, needs_display,  # noqa: E402
                        write_speech_wav)
from insightsupport import (MAP_PHONES, quadrant, write_insight_model,  # noqa: E402
                            write_lane_ctm)

pytestmark = [pytest.mark.gui, needs_display]
LOAD_TIMEOUT = 60000


@pytest.fixture
def model(tmp_path):
    return write_insight_model(tmp_path / "model")


@pytest.fixture
def wav(tmp_path):
    return write_speech_wav(tmp_path / "speech.wav", seconds=1.0)


@pytest.fixture
def window(qtbot, tmp_path, model, wav):
    """A shown window with the model and the wav loaded, and said phones from a CTM."""
    from deepbrain.gui.window import MainWindow

    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.IniFormat)
    w = MainWindow(settings=settings, sink_factory=lambda: (ManualSink(), "test"),
                   engine="numpy", remember=False)
    w.resize(1200, 760)
    w.show()
    qtbot.waitExposed(w)
    w.segments = write_lane_ctm(tmp_path / "phones.ctm", "speech", 98)
    w.insight.phones_file = tmp_path / "phones.ctm"
    assert w.load_model(model)
    with qtbot.waitSignal(w.result_shown, timeout=LOAD_TIMEOUT):
        w.load_wav(wav)
    qtbot.wait(50)
    yield w
    close_windows([w])


def grab(qtbot, w):
    w.view.update()
    qtbot.wait(40)
    return cell_pixels(w.view)


def widget_pixels(widget) -> np.ndarray:
    image = widget.grab().toImage().convertToFormat(QtGui.QImage.Format_RGB888)
    ptr = image.constBits()
    ptr.setsize(image.bytesPerLine() * image.height())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3).astype(int)


def test_the_phone_lanes_show_what_is_said_and_heard(qtbot, window):
    w = window
    lanes = w.insight.panel.lanes
    said = w.insight.said
    assert said is not None and list(said.segments) == w.segments
    assert w.insight.panel.bar.source.text() == "phones.ctm"
    hears = lane_from_output(w.acts.output, w.model.phones)
    assert w.insight.hears.segments == hears.segments   # the model's top output per frame
    seg = w.segments[2]                                   # "iy"
    w.show_frame((seg.start + seg.end) // 2)
    assert lanes.current("said") == "iy"
    assert lanes.current("hears") == phone_at(hears.segments, w.frame).phone
    px = widget_pixels(lanes)
    x_of = lanes._x_of()
    row = 2 + 15                                          # the said lane's middle
    # another segment than the current one: its manner colour, faint on the background
    other = w.segments[4]                                 # "m", a nasal
    x = int(x_of((other.start + other.end) / 2 * 0.01))
    alpha = 70 / 255
    want = (1 - alpha) * np.array([20, 22, 26]) + alpha * np.array(MANNER_COLOURS["nasal"])
    assert np.abs(px[row + 6, x] - want).max() < 12, (px[row + 6, x], want)
    # the current phone, large and white-boxed at the playhead
    cx = int(x_of(lanes.cursor))
    assert (px[row - 10:row + 10, cx - 3:cx + 3] > 235).all(axis=2).mean() > 0.3
    # clicking the lane seeks there
    target = w.segments[3]
    QtTest.QTest.mouseClick(lanes, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier,
                            QtCore.QPoint(int(x_of((target.start + 2) * 0.01)), row))
    qtbot.waitUntil(lambda: lanes.current("said") == target.phone, timeout=2000)


def test_regions_change_the_pixels_and_light_the_spoken_phone(qtbot, window):
    w = window
    off = grab(qtbot, w)
    w.insight.set_regions(True)
    assert w.insight.regions_action.isChecked() and w.view.trace_band > 0
    for seg in w.segments[1:5]:
        w.show_frame((seg.start + seg.end) // 2)
        assert w.insight.regions.phone == seg.phone
        qtbot.wait(30)
        w.view.update()
        qtbot.wait(40)
        image = w.view.grabFramebuffer().convertToFormat(QtGui.QImage.Format_RGB888)
        ratio = image.width() / w.view.width()
        for k in (1, 2):
            lit = w.insight.regions._lit(k, seg.phone)
            assert lit.size, f"no outline for {seg.phone} on layer {k}"
            # the midpoints of the lit outline's segments are drawn white
            white = 0
            for a, b in lit[:12]:
                p = w.view.map_to_pixel(k, *((a + b) / 2))
                c = QtGui.QColor(image.pixel(int(p.x() * ratio), int(p.y() * ratio)))
                white += min(c.red(), c.green(), c.blue()) > 200
            assert white >= min(len(lit), 12) * 0.6, (seg.phone, k, white)
    on = grab(qtbot, w)
    w.insight.regions.set_shown(False)       # outlines and labels off, the traces' room kept
    plain = grab(qtbot, w)
    for k in (1, 2):
        assert on[k].shape == plain[k].shape
        assert np.mean(np.any(on[k] != plain[k], axis=2)) > 0.02
    w.insight.set_regions(False)
    assert grab(qtbot, w)[1].shape == off[1].shape
    assert w.view.trace_band == 0 and not w.insight.regions.shown


def yellow_under(qtbot, w, layer) -> int:
    """Pixels of the trace colour in the band under ``layer``'s map."""
    band = w.view.cell_below(layer)
    w.view.update()
    qtbot.wait(40)
    image = w.view.grabFramebuffer().convertToFormat(QtGui.QImage.Format_RGB888)
    ratio = image.width() / w.view.width()
    yellow = 0
    for x in range(int(band.left()), int(band.right()), 2):
        for y in range(int(band.top()), int(band.bottom())):
            c = QtGui.QColor(image.pixel(int(x * ratio), int(y * ratio)))
            yellow += c.red() > 200 and c.green() > 160 and c.blue() < 150
    return yellow


def test_the_region_score_trace_is_the_cores(qtbot, window):
    w = window
    w.insight.set_regions(True)
    want = region_scores(w.acts.layers, w.insight.tables, w.segments, {1: 0.0, 2: -1.0})
    got = w.insight.traces.scores
    for k in (1, 2):
        np.testing.assert_allclose(got[k].per_frame, want[k].per_frame, equal_nan=True)
    assert yellow_under(qtbot, w, 1) > 20, "no trace drawn under layer 1"
    # a narrower view (a panel opened): the traces and labels follow the maps
    w.insight.units_dock.show()
    qtbot.wait(100)
    assert yellow_under(qtbot, w, 2) > 20, "the trace under layer 2 stayed behind"
    regions = w.insight.regions
    for k in (1, 2):
        for rect, phone in regions._placed_labels(k):
            lab = next(lab for lab in regions._labels[k] if lab.phone == phone)
            p = w.view.map_to_pixel(k, *lab.position)
            assert abs(rect.center().x() - p.x()) < 1 and abs(rect.center().y() - p.y()) < 2


def test_the_view_by_phone_colours_each_unit_by_its_phone(qtbot, window):
    w = window
    w.insight.set_by_phone(True)
    qtbot.wait(30)
    w.view.update()
    qtbot.wait(40)
    image = w.view.grabFramebuffer().convertToFormat(QtGui.QImage.Format_RGB888)
    ratio = image.width() / w.view.width()
    palette = phone_palette(len(w.insight.regions.phones))
    hits = 0
    v = w.model.maps[1].vertices
    for u, p in enumerate(quadrant(v)):
        pt = w.view.map_to_pixel(1, *v[u])
        c = QtGui.QColor(image.pixel(int(pt.x() * ratio), int(pt.y() * ratio)))
        want = palette[w.insight.regions.phones.index(MAP_PHONES[p])][:3] * 255
        hits += np.abs(np.array([c.red(), c.green(), c.blue()]) - want).max() < 40
    assert hits > 0.7 * len(v), hits
    frame_a = grab(qtbot, w)
    w.show_frame(60)                               # by phone the colours do not move
    assert all(np.array_equal(frame_a[k], grab(qtbot, w)[k]) for k in (1, 2))
    w.insight.set_by_phone(False)
    assert w.view.side_painter is None


def unit_pos(w, layer, unit) -> QtCore.QPoint:
    p = w.view.map_to_pixel(layer, *w.model.maps[layer].vertices[unit])
    return QtCore.QPoint(int(round(p.x())), int(round(p.y())))


def test_hover_tells_and_a_click_pins_units(qtbot, window):
    w = window
    shown = []
    w.view.unit_hovered.connect(lambda k, u, pos: shown.append((k, u)))
    QtTest.QTest.mouseMove(w.view, unit_pos(w, 2, 5))
    qtbot.waitUntil(lambda: shown and shown[-1] == (2, 5), timeout=2000)
    qtbot.waitUntil(lambda: "unit 6" in QtWidgets.QToolTip.text(), timeout=2000)
    assert f"prefers /{MAP_PHONES[quadrant(w.model.maps[2].vertices)[5]]}/" in \
        QtWidgets.QToolTip.text()
    before = grab(qtbot, w)[2]
    QtTest.QTest.mouseClick(w.view, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier,
                            unit_pos(w, 2, 5))
    qtbot.waitUntil(lambda: len(w.insight.inspector.cards) == 1, timeout=2000)
    card = w.insight.inspector.cards[0]
    assert (card.pin.layer, card.pin.unit) == (2, 5) and w.insight.units_dock.isVisible()
    x, y = card._curve.getData()
    assert np.allclose(y, w.acts.layers[2][:, 5])
    assert "unit 6" in card.title.text() and "PSI 22" in card.title.text()
    assert np.mean(np.any(grab(qtbot, w)[2] != before, axis=2)) > 0.001   # the ring
    w.insight.pin(1, 3)
    assert [(c.pin.layer, c.pin.unit) for c in w.insight.inspector.cards] == [(1, 3), (2, 5)]
    assert w.insight.selectivity.layer == 1 and w.insight.selectivity.has_picture()
    w.show_frame(40)
    assert card.playhead.value() == pytest.approx(40 * 0.01 + 0.0125)
    card.closed.emit()
    assert len(w.insight.inspector.cards) == 1


def test_panels_hide_and_the_maps_grow(qtbot, window):
    w = window
    qtbot.wait(50)
    before = w.view.cell_rect(1).width()
    for a in w.menuBar().actions()[1].menu().actions():
        if a.text() in ("Waveform and spectrogram", "Phone lanes", "Transport"):
            a.setChecked(False)
    qtbot.wait(100)
    assert not w.strip.isVisible() and not w.insight.panel.isVisible()
    qtbot.waitUntil(lambda: w.view.cell_rect(1).width() > before * 1.1, timeout=2000)


def test_a_typed_transcript_is_aligned(qtbot, window, monkeypatch):
    w = window
    fake = types.ModuleType("deepbrain.align")
    fake.why_unavailable = lambda: None
    fake.align_audio = lambda audio, text, utt_id="": [PhoneSegment("sil", 0, 30),
                                                       PhoneSegment("s", 30, 98)]
    monkeypatch.setitem(sys.modules, "deepbrain.align", fake)
    bar = w.insight.panel.bar
    bar.text.setText("so")
    QtTest.QTest.keyClick(bar.text, QtCore.Qt.Key_Return)
    qtbot.waitUntil(lambda: w.insight.said is not None and
                    [s.phone for s in w.insight.said.segments] == ["sil", "s"], timeout=5000)
    assert bar.source.text() == "aligned: \u201cso\u201d" and bar.align_button.isEnabled()
    monkeypatch.setitem(sys.modules, "deepbrain.align", None)
    w.insight.align_text("so")
    qtbot.waitUntil(lambda: w.error_box is not None and w.error_box.isVisible(), timeout=2000)
    assert "pip install 'deepbrain[align]'" in w.error_box.text()
    w.error_box.close()


def test_exports_png_at_a_size_and_npz(qtbot, window, tmp_path):
    w = window
    ex = w.insight.exporter
    out = ex.save_png(tmp_path / "view.png", (800, 600))
    image = QtGui.QImage(str(out))
    assert (image.width(), image.height()) == (800, 600)
    assert w.size() == QtCore.QSize(1200, 760)            # restored
    with pytest.raises(OutputExistsError):
        ex.save_png(out, (800, 600))
    with pytest.raises(DeepbrainError, match="outside"):
        from deepbrain.export import parse_size
        ex.save_png(tmp_path / "huge.png", parse_size("9000x9000"))
    npz = tmp_path / "acts.npz"
    from deepbrain.export import save_activations_npz
    save_activations_npz(w.acts, npz)
    with np.load(npz) as z:
        assert np.array_equal(z["layer2"], w.acts.layers[2]) and "output" in z.files
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".png", ".npz")) == \
        ["acts.npz", "view.png"]


def test_a_model_without_unit_tables_says_so(qtbot, tmp_path, wav):
    from deepbrain.gui.window import MainWindow
    from guisupport import write_mapped_tiny_model

    plain = write_mapped_tiny_model(tmp_path / "plain")
    w = MainWindow(settings=QtCore.QSettings(str(tmp_path / "t.ini"),
                                             QtCore.QSettings.IniFormat),
                   sink_factory=lambda: (ManualSink(), "test"), engine="numpy",
                   remember=False)
    try:
        w.show()
        assert w.load_model(plain)
        with qtbot.waitSignal(w.result_shown, timeout=LOAD_TIMEOUT):
            w.load_wav(wav)
        assert not w.insight.regions_action.isEnabled()
        assert "build-map" in w.insight.regions_action.toolTip()
        assert w.insight.hears is None             # no phones.txt: no heard lane
        w.insight.set_regions(True)
        qtbot.waitUntil(lambda: w.error_box is not None and w.error_box.isVisible(),
                        timeout=2000)
        assert "no units.csv" in w.error_box.text()
        w.error_box.close()
    finally:
        close_windows([w])


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffmpeg and ffprobe")
def test_the_video_dialog_renders_with_progress_and_cancels(qtbot, window, tmp_path,
                                                            monkeypatch):
    w = window
    out = tmp_path / "v.mp4"
    monkeypatch.setattr(QtWidgets.QInputDialog, "getText",
                        staticmethod(lambda *a, **k: ("480x320", True)))
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(tmp_path / "v"), "")))
    w.insight.exporter.video_dialog()
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                        "-of", "csv=p=0", str(out)], capture_output=True, text=True, check=True)
    assert abs(float(r.stdout) - 1.0) < 0.05            # the 1 s wav
    assert w.insight.exporter.dialog.maximum() == 30 and "Save video" in \
        w.statusBar().currentMessage()
    out.unlink()
    asked = []

    def cancel_soon(self):
        asked.append(1)
        return len(asked) > 4
    monkeypatch.setattr(QtWidgets.QProgressDialog, "wasCanceled", cancel_soon)
    w.insight.exporter.video_dialog()
    assert "cancelled, nothing written" in w.statusBar().currentMessage()
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))
    assert w.size() == QtCore.QSize(1200, 760)


def test_a_pinned_unit_follows_the_next_utterance_and_its_transcript(qtbot, window, tmp_path,
                                                                     monkeypatch):
    w = window
    w.insight.pin(1, 7)
    fake = types.ModuleType("deepbrain.align")
    fake.why_unavailable = lambda: None
    fake.align_audio = lambda audio, text, utt_id="": [PhoneSegment("s", 0, 150)]
    monkeypatch.setitem(sys.modules, "deepbrain.align", fake)
    w.insight.pending_text = "s"
    other = write_speech_wav(tmp_path / "longer.wav", seconds=1.5, seed=4)
    with qtbot.waitSignal(w.result_shown, timeout=LOAD_TIMEOUT):
        w.load_wav(other)
    card = w.insight.inspector.cards[0]
    assert np.allclose(card._curve.getData()[1], w.acts.layers[1][:, 7])
    assert [s.phone for s in w.insight.said.segments] == ["s"]
    assert w.insight.panel.bar.source.text() == "aligned: \u201cs\u201d"
