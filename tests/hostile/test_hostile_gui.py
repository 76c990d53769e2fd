"""Hostile ``deepbrain gui --screenshot`` (issue 9, items 10 and 15, and the gui side of
6, 12 and 17): sizes beyond what GL renders, PNGs that exist or cannot be written, and the
window's own input. One line and a code; no crash, no truncated or replaced PNG."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PyQt5.QtWidgets", exc_type=ImportError)  # Qt loads: libGL there
pytest.importorskip("pyqtgraph")
pytest.importorskip("OpenGL")
pytest.importorskip("pytestqt")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gui"))  # guisupport
from deepbrain.errors import DeepbrainError, OutputError, OutputExistsError  # noqa: E402
from guisupport import needs_display, write_mapped_tiny_model, write_speech_wav  # noqa: E402
from support import speechlike, wav_bytes  # noqa: E402

APP = Path(__file__).resolve().parents[2] / "app"
pytestmark = [pytest.mark.gui, needs_display]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("gui")
    return write_mapped_tiny_model(d / "model"), write_speech_wav(d / "a.wav")


def deepbrain(tmp_path, *args, prefix=(), timeout=300):
    """``python -m deepbrain ARGS`` with QSettings under tmp_path; (code, stderr)."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(APP), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([*prefix, sys.executable, "-m", "deepbrain", *map(str, args)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stderr


def shot(tmp_path, files, png, *extra):
    model, wav = files
    return deepbrain(tmp_path, "gui", "--model", model, "--wav", wav, "--screenshot", png,
                     "--size", "640x480", *extra)


def last_line(err: str) -> str:
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".deepbrain-*"))


# -- item 10: sizes ----------------------------------------------------------------------------

@pytest.mark.parametrize("size,message", [
    ("100000x100000", "--size 100000x100000: outside 320x240 .. 7680x4320 (a frame takes 4 "
                      "bytes a pixel, twice over while it is drawn); choose another --size"),
    ("7681x600", "--size 7681x600: outside 320x240 .. 7680x4320"),
    ("600x99999999999999999999", "--size 600x99999999999999999999: outside 320x240"),
    ("0x0", "--size 0x0: outside 320x240 .. 7680x4320"),
    ("319x600", "--size 319x600: outside 320x240 .. 7680x4320"),
    ("800x", "--size: expected WIDTHxHEIGHT like 1280x720, got '800x'"),
])
def test_sizes_beyond_what_can_be_rendered_are_refused_first(files, tmp_path, size, message):
    code, err = shot(tmp_path, files, tmp_path / "x.png", "--size", size)
    assert code == 1 and last_line(err).startswith(f"deepbrain: error: {message}")
    assert not (tmp_path / "x.png").exists() and leftovers(tmp_path) == []


def test_the_displays_gl_limit_is_asked_and_kept(qapp):
    from deepbrain.gui.screenshot import check_gl_size, gl_max_side

    limit = gl_max_side()
    if limit is None:
        pytest.skip("this OpenGL does not say its limits")
    assert limit >= 1024
    check_gl_size((min(limit, 8192), 480))
    with pytest.raises(DeepbrainError, match=f"this display's OpenGL renders at most {limit} "
                                             f"pixels a side; choose a smaller --size"):
        check_gl_size((limit + 1, 480))


# -- item 15: the PNG --------------------------------------------------------------------------

def test_an_existing_png_is_kept_without_force(files, tmp_path):
    png = tmp_path / "x.png"
    png.write_bytes(b"my earlier picture")
    code, err = shot(tmp_path, files, png)
    assert code == 5 and last_line(err) == (f"deepbrain: error: {png}: already exists; pass "
                                            f"--force to replace it or choose another name")
    assert png.read_bytes() == b"my earlier picture" and leftovers(tmp_path) == []
    code, err = shot(tmp_path, files, png, "--force")
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and leftovers(tmp_path) == []


@pytest.mark.parametrize("where,message", [
    ("missing/x.png", "the folder {tmp}/missing does not exist; create it or choose another "
                      "--screenshot"),
    ("afile/x.png", "{tmp}/afile is not a folder; choose another --screenshot"),
    ("adir.png", "is a folder; give a file name ending in .png"),
    ("x.jpg", "--screenshot writes a PNG; give a file name ending in .png"),
    ("n" * 300 + ".png", "the file name is too long for its file system; choose a shorter name"),
    ("/sys/x.png", "no permission to write in /sys; choose a folder you can write to"),
    ("/proc/self/x.png", "/proc/self does not take new files (No such file or directory); "
                         "choose another folder"),
])
def test_each_failure_to_write_says_what_it_is_before_any_work(files, tmp_path, where,
                                                               message):
    (tmp_path / "afile").write_text("a file")
    (tmp_path / "adir.png").mkdir()
    png = tmp_path / where
    model, _ = files
    # a wav that does not exist: if the PNG were checked only after the work, this would
    # be the error instead
    code, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", tmp_path / "none.wav",
                          "--screenshot", png)
    assert code == (1 if where == "x.jpg" else 5)  # a wrong name is usage; the rest output
    assert last_line(err) == f"deepbrain: error: {png}: " + message.format(tmp=tmp_path)
    assert leftovers(tmp_path) == []


def test_a_full_disk_leaves_no_truncated_png(files, tmp_path):
    """A real full disk: a 64 kB tmpfs in a private mount namespace (needs root)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to mount a small tmpfs privately")
    small = tmp_path / "small"
    small.mkdir()
    png = small / "x.png"
    model, wav = files
    script = (f'mount -t tmpfs -o size=64k none "{small}" && echo old > "{png}" && '
              f'"$0" "$@"; code=$?; ls -A "{small}"; cat "{png}"; exit $code')
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(APP), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run(["unshare", "-m", "sh", "-c", script, sys.executable, "-m", "deepbrain",
                        "gui", "--model", str(model), "--wav", str(wav), "--screenshot",
                        str(png), "--force", "--size", "1600x1200"], env=env,
                       capture_output=True, text=True, timeout=300)
    if "mount:" in r.stderr or "unshare:" in r.stderr:
        pytest.skip(f"cannot mount a tmpfs privately here: {r.stderr.strip()}")
    error = [line for line in r.stderr.splitlines() if line.startswith("deepbrain:")]
    assert r.returncode == 5 and len(error) == 1 and "Traceback" not in r.stderr
    assert error[0].startswith(f"deepbrain: error: {png}: no space left on the device for the ")
    assert error[0].endswith("-byte PNG; free some space or choose another folder")
    assert r.stdout == "x.png\nold\n"  # on the full disk afterwards: the old PNG, unchanged


def test_a_write_that_fails_midway_leaves_the_old_png(qapp, tmp_path, monkeypatch):
    from PyQt5 import QtGui

    from deepbrain.gui import screenshot

    png = tmp_path / "x.png"
    png.write_bytes(b"old")
    image = QtGui.QImage(400, 300, QtGui.QImage.Format_RGB32)
    image.fill(0x336699)

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(screenshot.os, "fsync", no_space)
    with pytest.raises(OutputError, match="no space left on the device for the .*-byte PNG"):
        with screenshot.PngFile(png, force=True) as target:
            target.write(image)
    assert png.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_a_png_that_appears_meanwhile_is_not_overwritten(qapp, tmp_path):
    from PyQt5 import QtGui

    from deepbrain.gui import screenshot

    png = tmp_path / "x.png"
    image = QtGui.QImage(400, 300, QtGui.QImage.Format_RGB32)
    image.fill(0x336699)
    with screenshot.PngFile(png) as target:
        png.write_bytes(b"someone else's")
        with pytest.raises(OutputExistsError, match="appeared while the picture was made"):
            target.write(image)
    assert png.read_bytes() == b"someone else's" and leftovers(tmp_path) == []


# -- the window's input: the same one line as the command line gives -------------------------

def test_hostile_wavs_and_options_in_the_window(files, tmp_path):
    model, _ = files
    fifo = tmp_path / "x.wav"
    os.mkfifo(fifo)
    code, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", fifo, "--screenshot",
                          tmp_path / "a.png", timeout=120)
    assert code == 3 and last_line(err).endswith("is a FIFO (named pipe), not a wav file; "
                                                 "deepbrain reads wav files: write the audio "
                                                 "to a file first")
    one_hz = tmp_path / "one.wav"
    data = bytearray(wav_bytes(speechlike(1.0)))
    data[24:28] = (1).to_bytes(4, "little")
    one_hz.write_bytes(bytes(data))
    code, err = deepbrain(tmp_path, "gui", "--model", model, "--wav", one_hz, "--screenshot",
                          tmp_path / "b.png")
    assert code == 3 and "its header says 1 Hz" in last_line(err)
    bad = tmp_path / "badmodel"
    shutil.copytree(model, bad)
    (bad / "conf").mkdir()
    (bad / "conf" / "mfcc.conf").write_text("--frame-shift=0.01\n")
    code, err = deepbrain(tmp_path, "gui", "--model", bad, "--wav", files[1], "--screenshot",
                          tmp_path / "c.png")
    assert code == 4 and "looks like seconds: --frame-shift=10?" in last_line(err)
    assert not any(tmp_path.glob("*.png")) and leftovers(tmp_path) == []
