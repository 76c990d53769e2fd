"""Saving what the window shows: a PNG at a chosen size, the utterance as an MP4 (real time,
with its sound; a progress dialog with Cancel), the activations as ``.npz``.

The picture is the whole window as :meth:`MainWindow.render_image` grabs it. For another size
the window is resized for the export and restored after; where the window system will not
give that size, the picture is scaled into it (aspect kept, black bars).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from PyQt5 import QtCore, QtGui, QtWidgets

from ..errors import Cancelled, DeepbrainError
from ..export import atomic_path, check_output, parse_size, save_activations_npz
from ..playback import frame_at
from ..video import FPS, make_video


def image_rgb(image: QtGui.QImage, size: tuple[int, int]) -> np.ndarray:
    """``image`` as H x W x 3 uint8 RGB of exactly ``size`` (scaled and centred if it
    differs)."""
    w, h = size
    if (image.width(), image.height()) != (w, h):
        scaled = image.scaled(w, h, QtCore.Qt.KeepAspectRatio, QtCore.Qt.SmoothTransformation)
        canvas = QtGui.QImage(w, h, QtGui.QImage.Format_RGB888)
        canvas.fill(QtGui.QColor(0, 0, 0))
        painter = QtGui.QPainter(canvas)
        painter.drawImage((w - scaled.width()) // 2, (h - scaled.height()) // 2, scaled)
        painter.end()
        image = canvas
    image = image.convertToFormat(QtGui.QImage.Format_RGB888)
    ptr = image.constBits()
    ptr.setsize(image.bytesPerLine() * h)
    rows = np.frombuffer(ptr, np.uint8).reshape(h, image.bytesPerLine())
    return rows[:, :w * 3].reshape(h, w, 3).copy()


@contextlib.contextmanager
def window_size(window, size: tuple[int, int]):
    """The window at ``size`` (logical pixels) for the block, then as it was."""
    old = window.size()
    if (old.width(), old.height()) != tuple(size):
        window.resize(*size)
        settle()
    try:
        yield
    finally:
        if window.size() != old:
            window.resize(old)
            settle()


def settle(rounds: int = 6) -> None:
    app = QtWidgets.QApplication.instance()
    for _ in range(rounds):
        app.processEvents()


class Exporter:
    """The window's File menu exports, and the same exports for ``--video``."""

    def __init__(self, window):
        self.window = window

    # -- the work ----------------------------------------------------------------------------

    def picture(self, size: tuple[int, int]) -> QtGui.QImage:
        with window_size(self.window, size):
            settle(3)
            image = self.window.render_image()
        if (image.width(), image.height()) != tuple(size):
            rgb = image_rgb(image, size)
            image = QtGui.QImage(rgb.data, size[0], size[1], 3 * size[0],
                                 QtGui.QImage.Format_RGB888).copy()
        return image

    def save_png(self, path: str | Path, size: tuple[int, int], force: bool = False) -> Path:
        out = check_output(path, force, "the PNG")
        image = self.picture(size)
        with atomic_path(out) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise DeepbrainError(f"{out}: cannot write the PNG (disk full? permissions?)")
        return out

    def save_video(self, path: str | Path, size: tuple[int, int], force: bool = False,
                   progress=None, cancel=None) -> Path:
        """The utterance from its start, in real time: video frame i shows the frame under
        i / FPS seconds, and the sound is the utterance's (at the model's rate)."""
        w = self.window
        if w.feed is not None and w.feed.listening:
            raise DeepbrainError("live: stop live first; a video is made of what was heard")
        if w.feed is None or w.playhead is None:
            raise DeepbrainError("no utterance to make a video of: open a wav first")
        w.pause()
        model, n = w.model, w.colours.num_frames
        length = model.mfcc.frame_length / 1000.0
        audio = w.utterance_audio
        shown = w.frame

        def render(seconds: float) -> np.ndarray:
            w.show_frame(frame_at(seconds, model.frame_shift, length, n))
            settle(2)
            return image_rgb(w.render_image(), size)
        sync, w.feed.sync = w.feed.sync, True   # a long utterance's frames computed in turn
        try:
            with window_size(w, size):
                return make_video(render, audio, path, size, force, FPS, progress, cancel)
        finally:
            w.feed.sync = sync
            w.show_frame(shown)

    # -- the dialogs -------------------------------------------------------------------------

    def _ask_size(self, title: str) -> tuple[int, int] | None:
        now = self.window.size()
        text, ok = QtWidgets.QInputDialog.getText(
            self.window, title, "Size in pixels (WIDTHxHEIGHT):",
            text=f"{now.width()}x{now.height()}")
        if not ok:
            return None
        try:
            return parse_size(text, "size")
        except DeepbrainError as e:
            self.window.show_error(title, e)
            return None

    def _ask_file(self, title: str, suffix: str, kind: str) -> Path | None:
        start = str(Path(self.window.settings.value("export_dir", "") or Path.home()) /
                    f"{self._stem()}{suffix}")
        f, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, title, start,
                                                     f"{kind} (*{suffix})")
        if not f:
            return None
        path = Path(f) if f.endswith(suffix) else Path(f + suffix)
        self.window._remember("export_dir", str(path.parent))
        return path

    def _stem(self) -> str:
        feed = self.window.feed
        return feed.source.utt_id if feed is not None else "deepbrain"

    def png_dialog(self) -> None:
        size = self._ask_size("Save picture")
        path = size and self._ask_file("Save picture", ".png", "PNG image")
        if path:   # the file dialog asked before replacing a file
            self._run("Save picture", lambda: self.save_png(path, size, force=True))

    def npz_dialog(self) -> None:
        w = self.window
        if w.feed is None:
            w.show_error("Save activations", "open a wav first")
            return
        if w.feed.listening:
            w.show_error("Save activations", "live: stop live first")
            return
        if w.acts is None:
            gb = w.feed.num_frames * sum(w.feed.dims.values()) * 4 / 2 ** 30
            w.show_error("Save activations", DeepbrainError(
                f"{w.wav.name if w.wav else 'this utterance'}: its activations ({gb:.1f} GB) "
                f"are computed around the playhead, never held whole; write them as arks in "
                f"chunks with deepbrain activations WAV --out DIR"))
            return
        path = self._ask_file("Save activations", ".npz", "numpy arrays")
        if path:
            self._run("Save activations",
                      lambda: save_activations_npz(self.window.acts, path, force=True))

    def video_dialog(self) -> None:
        if self.window.feed is None:
            self.window.show_error("Save video", "open a wav first")
            return
        if self.window.feed.listening:
            self.window.show_error("Save video", "live: stop live first")
            return
        size = self._ask_size("Save video")
        path = size and self._ask_file("Save video", ".mp4", "MP4 video")
        if not path:
            return
        dialog = QtWidgets.QProgressDialog("Rendering the video\u2026", "Cancel", 0, 100,
                                           self.window)
        dialog.setWindowTitle("Save video")
        dialog.setWindowModality(QtCore.Qt.WindowModal)
        dialog.setMinimumDuration(0)
        self.dialog = dialog

        def progress(p) -> None:
            dialog.setMaximum(p.total)
            dialog.setValue(p.done)
            dialog.setLabelText(f"Rendering the video: frame {p.done} of {p.total}")
        try:
            self._run("Save video", lambda: self.save_video(path, size, True, progress,
                                                            dialog.wasCanceled))
        finally:
            dialog.close()

    def _run(self, title: str, job) -> None:
        try:
            out = job()
        except Cancelled:
            self.window._say(f"{title}: cancelled, nothing written")
            return
        except DeepbrainError as e:
            self.window.show_error(title, e)
            return
        self.window._say(f"{title}: {out}")
