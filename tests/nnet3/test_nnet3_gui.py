"""The window with nnet3 models: maps titled by node name, no "hears" lane, the nnet1-only
parts (live mode, long recordings around the playhead, regions) refused in one line; the
real window under Xvfb, its pixels read back. And the Vosk Korean model end to end:
build-map --unlabelled on a few real wavs, then gui --screenshot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt5.QtWidgets", exc_type=ImportError)  # Qt loads: libGL there
pytest.importorskip("pyqtgraph")
pytest.importorskip("OpenGL")
pytest.importorskip("pytestqt")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gui"))  # guisupport

from cli_models import mappable_model_dir
from deepbrain.layermap import write_layer_map
from guisupport import (
    BACKGROUND,
    close_windows,
    lit_fraction,
    needs_display,
    random_map,
    write_speech_wav,
)
from speech import make_wavs

pytestmark = [pytest.mark.gui, needs_display]
APP = Path(__file__).resolve().parents[2] / "app"


def deepbrain(tmp_path, *args, timeout=600):
    """``python -m deepbrain ARGS`` with QSettings under tmp_path; (code, stdout, stderr)."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHONPATH=os.pathsep.join([str(APP), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "deepbrain", *map(str, args)], env=env,
                       capture_output=True, text=True, timeout=timeout, check=False)
    return r.returncode, r.stdout, r.stderr


def png_pixels(path):
    from PyQt5 import QtGui

    image = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format_RGB888)
    ptr = image.constBits()
    ptr.setsize(image.bytesPerLine() * image.height())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def lit(pixels) -> float:
    return float(np.mean(np.abs(pixels.astype(int) - np.array(BACKGROUND)).sum(axis=2) > 30))


@pytest.fixture
def mapped(tmp_path):
    """The small nnet3 dir (48 relu, 40 sigmoid) with a map per layer, and a wav."""
    model = mappable_model_dir(tmp_path / "nnet3")
    for k, units in ((1, 48), (2, 40)):
        write_layer_map(random_map(k, units, seed=k), model / "lda" / str(k))
    return model, write_speech_wav(tmp_path / "a.wav", seconds=1.0)


def test_screenshot_of_an_nnet3_model_draws_its_maps(qapp, mapped, tmp_path):
    model, wav = mapped
    shots = {}
    for frame in (20, 70):
        shots[frame] = tmp_path / f"f{frame}.png"
        code, _, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", wav, "--frame",
                                 frame, "--screenshot", shots[frame], "--size", "900x600",
                                   "--engine", "numpy")
        assert code == 0, err
    a, b = png_pixels(shots[20]), png_pixels(shots[70])
    assert a.shape == (600, 900, 3)
    maps = (slice(80, 300), slice(150, 650))      # where the two maps are at 900x600
    assert lit(a[maps]) > 0.2 and len(np.unique(a[maps].reshape(-1, 3), axis=0)) > 50
    assert np.mean(np.any(a[maps] != b[maps], axis=2)) > 0.05   # the frame shows
    # the rest of the window is the same for both frames but the cursor and frame numbers
    assert np.mean(np.any(a[500:520] != b[500:520], axis=2)) < 0.05


def test_saved_activations_of_an_nnet3_model(qapp, mapped, tmp_path):
    """--acts: what deepbrain activations wrote, shown with nothing recomputed."""
    model, wav = mapped
    acts = tmp_path / "acts"
    code, _, err = deepbrain(tmp_path, "activations", wav, "--model", model, "--out", acts,
                             "--engine", "numpy", "-q")
    assert code == 0, err
    shot = tmp_path / "acts.png"
    code, _, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", wav, "--acts", acts,
                             "--frame", 20, "--screenshot", shot, "--size", "900x600")
    assert code == 0, err
    computed = tmp_path / "computed.png"
    code, _, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", wav, "--frame", 20,
                             "--screenshot", computed, "--size", "900x600", "--engine",
                             "numpy")
    assert code == 0, err
    maps = (slice(80, 300), slice(150, 650))
    a, b = png_pixels(shot)[maps], png_pixels(computed)[maps]
    assert lit(a) > 0.2 and np.mean(np.any(a != b, axis=2)) < 0.01   # the same picture


def test_regions_of_an_nnet3_model_are_one_line(qapp, mapped, tmp_path):
    model, wav = mapped
    out = tmp_path / "r.png"
    code, _, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", wav, "--regions",
                             "--screenshot", out, "--engine", "numpy")
    last = err.strip().splitlines()[-1]
    assert code == 1 and last == f"deepbrain: error: {model / 'lda'}: no units.csv, so no " \
        f"regions; regions need maps built with phone labels, which are for nnet1 models " \
        f"only, not nnet3 yet", err
    assert not out.exists()


@pytest.fixture
def window(qtbot, tmp_path):
    from deepbrain.gui.window import MainWindow
    from PyQt5 import QtCore

    settings = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.IniFormat)
    w = MainWindow(settings=settings, sink_factory=lambda: (None, "no sound"), engine="numpy",
                   recordings=tmp_path / "rec")
    errors = []
    w.show_error = lambda title, e: errors.append(f"{title}: {e}")
    w.errors = errors
    w.resize(1000, 700)
    w.show()
    qtbot.waitExposed(w)
    yield w
    close_windows([w])


def test_the_window_opens_an_nnet3_model_like_an_nnet1_one(qtbot, window, mapped):
    model, wav = mapped
    w = window
    assert w.load_model(model)
    with qtbot.waitSignal(w.result_shown, timeout=60000):
        w.load_wav(wav)
    assert [a.text() for a in w.layers_menu.actions()] == ["tdnn1.relu \u00b7 48 relu",
                                                           "tdnn2.sigmoid \u00b7 40 sigmoid"]
    assert w.insight.panel.lanes.names == ("said",)          # no "hears": no phones
    assert sorted(w.view.meshes) == [1, 2] and w.errors == []
    w.view.update()
    qtbot.wait(30)
    from deepbrain.gui.mapview import grab_cells

    first = grab_cells(w.view)
    w.show_frame(60)
    w.view.update()
    qtbot.wait(30)
    later = grab_cells(w.view)
    for k in (1, 2):
        assert lit_fraction(first[k]) > 0.3
        assert np.mean(np.any(first[k] != later[k], axis=2)) > 0.05
    # live mode: refused in one line, the utterance stays
    assert w.live.start() is False
    assert w.errors[-1].startswith("Live: nnet3: live mode is not available for nnet3 models")
    assert w.feed is not None and w.feed.num_frames == w._num_frames()
    # a long recording is refused instead of computed around the playhead
    w.processor.whole_bytes = 1000
    w.load_wav(wav)
    assert "long recordings are computed around the playhead for nnet1 models only" in \
        w.errors[-1] and not w.processing
    w.processor.whole_bytes = 1 << 30
    with qtbot.waitSignal(w.result_shown, timeout=60000):
        w.load_wav(wav)      # and the window still works
    w.insight.set_regions(True)
    assert "no units.csv, so no regions" in w.errors[-1]


# -- the Vosk Korean model -------------------------------------------------------------------

@pytest.mark.slow
def test_vosk_unlabelled_maps_and_screenshot(qapp, vosk_model, tmp_path):
    """build-map --unlabelled over real recordings (alsa-utils' and an espeak-ng sentence
    where there), into a copy of the model dir made of links, then the window's picture."""
    wavs = make_wavs(tmp_path / "wavs")
    wavs += sorted((APP.parent / "models" / "demo" / "examples").glob("*.wav"))
    if len(wavs) < 2:
        pytest.skip("fewer than two wavs of speech here (no alsa-utils, no espeak-ng)")
    model = tmp_path / "vosk"
    model.mkdir()
    for part in ("am", "conf", "ivector"):
        (model / part).symlink_to(vosk_model / part)
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text("".join(f"w{i} {p.resolve()}\n" for i, p in enumerate(wavs)))
    code, out, err = deepbrain(tmp_path, "build-map", "--unlabelled", "--model", model,
                               "--data", data, "--out", model, "--layers", "1,8,16",
                               "--engine", "numpy", "--nj", "2")
    assert code == 0, err
    assert "layer 16 (prefinal-chain.relu): 768 units" in out
    shot = tmp_path / "vosk.png"
    code, _, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", wavs[0], "--frame",
                             50, "--screenshot", shot, "--size", "1280x720", "--engine",
                             "numpy")
    assert code == 0, err
    px = png_pixels(shot)
    assert px.shape == (720, 1280, 3)
    maps = px[90:420, 100:1100]
    assert lit(maps) > 0.2 and len(np.unique(maps.reshape(-1, 3), axis=0)) > 200
