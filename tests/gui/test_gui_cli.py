"""``deepbrain gui``: the --screenshot mode end to end (in a subprocess, as a user runs it),
and its errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt5.QtWidgets", exc_type=ImportError)  # Qt loads: libGL there
pytest.importorskip("pyqtgraph")
pytest.importorskip("OpenGL")
pytest.importorskip("pytestqt")

from deepbrain.cli import main  # noqa: E402
from guisupport import (BACKGROUND, needs_display, write_mapped_tiny_model,  # noqa: E402
                        write_speech_wav)


APP = Path(__file__).resolve().parents[2] / "app"


@pytest.fixture
def files(tmp_path):
    return write_mapped_tiny_model(tmp_path / "model"), write_speech_wav(tmp_path / "a.wav")


def deepbrain(tmp_path, *args):
    """``python -m deepbrain ARGS`` with QSettings under tmp_path; (code, stderr)."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHONPATH=os.pathsep.join([str(APP), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "deepbrain", *map(str, args)], env=env,
                       capture_output=True, text=True, timeout=300)
    return r.returncode, r.stderr


def png_pixels(path):
    from PyQt5 import QtGui

    image = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format_RGB888)
    ptr = image.constBits()
    ptr.setsize(image.bytesPerLine() * image.height())
    rows = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3).copy()


@pytest.mark.gui
@needs_display
def test_screenshot_renders_the_state_and_exits(qapp, files, tmp_path):
    model, wav = files
    out = tmp_path / "shot.png"
    code, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", wav, "--frame", 40,
                          "--screenshot", out, "--size", "900x600")
    assert code == 0, err
    px = png_pixels(out)
    assert px.shape == (600, 900, 3)
    # the maps: many colours, not the background
    maps = px[60:380, 100:800]
    lit = np.mean(np.abs(maps.astype(int) - np.array(BACKGROUND)).sum(axis=2) > 30)
    assert lit > 0.1 and len(np.unique(maps.reshape(-1, 3), axis=0)) > 50
    other = tmp_path / "shot2.png"
    code, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", wav, "--frame", 80,
                          "--screenshot", other, "--size", "900x600")
    assert code == 0, err
    assert np.mean(np.any(png_pixels(other)[60:380, 100:800] != maps, axis=2)) > 0.02


@pytest.mark.gui
@needs_display
def test_screenshot_errors_are_one_line_and_a_code(files, tmp_path):
    model, wav = files
    out = tmp_path / "x.png"
    code, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", wav, "--frame", 5000,
                          "--screenshot", out)
    assert code == 1 and err.strip().splitlines()[-1] == \
        "deepbrain: error: --frame 5000: the utterance has frames 0..97"
    code, err = deepbrain(tmp_path, "gui", "--model", tmp_path / "none", "--wav", wav,
                          "--screenshot", out)
    assert code == 4 and "not a directory" in err
    assert not out.exists() and not (tmp_path / "config").exists()  # nothing remembered


def test_no_display_is_a_clear_error(monkeypatch, capsys):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main(["gui"]) == 1
    assert "xvfb-run -a deepbrain gui" in capsys.readouterr().err


def test_offscreen_platform_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert main(["gui"]) == 1
    assert "has no OpenGL" in capsys.readouterr().err


@pytest.mark.gui
@needs_display
def test_screenshot_refuses_layers_without_maps(files, tmp_path):
    model, wav = files
    shutil.rmtree(model / "lda" / "2")
    code, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", wav, "--layers", "1-2",
                          "--screenshot", tmp_path / "x.png")
    assert code == 1 and "no map for layer(s) 2" in err and "has maps for 1" in err
    code, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", wav, "--layers", "2-3",
                          "--screenshot", tmp_path / "x.png")
    assert code == 1 and "layer 3 asked for, but" in err and "hidden layers 1..2" in err
