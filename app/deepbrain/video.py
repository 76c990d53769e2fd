"""An utterance as a video: frames rendered by the caller, in real time, with the sound.

MP4 with H.264 video (yuv420p, plays everywhere) and AAC sound, made by ffmpeg: Debian's
``ffmpeg`` on PATH, else the binary of the ``imageio-ffmpeg`` wheel. ffmpeg gets an argument
list (never a shell), raw RGB frames on its stdin, and every path as an absolute
``file:`` URL, so no file name is taken for an option or a protocol. The video is written
under a hidden name and renamed into place when ffmpeg has finished; a cancel or a failure
removes it.

Frame ``i`` of the video shows the utterance at ``i / fps`` seconds: the caller's
``render(seconds)`` decides what that looks like (the window: the frame under that time).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .audio import Audio, write_wav16
from .errors import DeepbrainError
from .export import check_output, check_size
from .pipeline import CancelHook, Progress, ProgressHook, check_cancel

FPS = 30


class FfmpegError(DeepbrainError):
    """ffmpeg is missing, or failed to make the video."""

    exit_code = 11


def find_ffmpeg() -> str | None:
    """Debian's ffmpeg on PATH, else imageio-ffmpeg's, else None."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


def require_ffmpeg() -> str:
    exe = find_ffmpeg()
    if exe is None:
        raise FfmpegError("a video needs ffmpeg: apt-get install ffmpeg, or pip install "
                          "'deepbrain[video]' (imageio-ffmpeg)")
    return exe


def frame_count(duration: float, fps: float = FPS) -> int:
    """Video frames covering ``duration`` seconds (the last may run past the sound by less
    than a frame)."""
    return max(1, math.ceil(duration * fps - 1e-9))


class VideoWriter:
    """Write RGB frames (H x W x 3 uint8) with :meth:`write`, then :meth:`finish`;
    :meth:`abort` (or leaving a ``with`` block by an exception) kills ffmpeg and leaves
    nothing behind."""

    def __init__(self, out: Path, size: tuple[int, int], audio: Audio, fps: float = FPS,
                 ffmpeg: str | None = None):
        w, h = size
        check_size(w, h, "video size")
        exe = ffmpeg or require_ffmpeg()
        self.out, self.size, self.fps = out, (w, h), fps
        self.tmp = out.with_name(f".{out.stem}.partial-{os.getpid()}{out.suffix}")
        self.frames = 0
        self._open = True
        self._work = tempfile.TemporaryDirectory(prefix="deepbrain-video-")
        work = Path(self._work.name)
        wav = work / "sound.wav"
        write_wav16(audio, wav)
        self._log = open(work / "ffmpeg.log", "w+b")
        cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-framerate", f"{fps:g}", "-i", "pipe:0",
               "-i", f"file:{wav}", "-map", "0:v:0", "-map", "1:a:0",
               # H.264 in yuv420p needs even sides: pad by a pixel where needed
               "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
               "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
               "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart",
               "-f", "mp4", f"file:{self.tmp}"]
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=self._log)
        except OSError as e:
            self._close(keep=False)
            raise FfmpegError(f"{exe}: cannot be run ({e.strerror})") from None

    def write(self, rgb: np.ndarray) -> None:
        w, h = self.size
        if rgb.shape != (h, w, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"a frame must be {h}x{w}x3 uint8, got {rgb.shape} {rgb.dtype}")
        try:
            self._proc.stdin.write(np.ascontiguousarray(rgb).tobytes())
        except OSError:      # a broken pipe: ffmpeg has stopped
            self._proc.wait()
            message = self._failure()
            self._close(keep=False)
            raise FfmpegError(message) from None
        self.frames += 1

    def finish(self) -> Path:
        """Close ffmpeg's input, wait for it, and move the video into place."""
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        if self._proc.wait() != 0:
            message = self._failure()
            self._close(keep=False)
            raise FfmpegError(message)
        self._close(keep=True)
        return self.out

    def abort(self) -> None:
        if not self._open:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._close(keep=False)

    def _failure(self) -> str:
        self._log.seek(0)
        tail = self._log.read().decode("utf-8", "replace").strip().splitlines()[-4:]
        return (f"ffmpeg failed making {self.out.name} (exit {self._proc.returncode}): "
                + (" | ".join(tail) or "no message"))

    def _close(self, keep: bool) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.stdin is not None and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass
        self._log.close()
        if keep:
            os.replace(self.tmp, self.out)
        else:
            self.tmp.unlink(missing_ok=True)
        self._work.cleanup()
        self._open = False

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def make_video(render: Callable[[float], np.ndarray], audio: Audio, out: str | os.PathLike,
               size: tuple[int, int], force: bool = False, fps: float = FPS,
               progress: ProgressHook | None = None, cancel: CancelHook | None = None) -> Path:
    """The utterance as an MP4: ``render(seconds)`` gives the picture at that time (H x W x 3
    uint8 RGB of ``size``), one call per video frame; the sound is ``audio``."""
    target = check_output(out, force, "the video")
    n = frame_count(audio.duration, fps)
    with VideoWriter(target, size, audio, fps) as writer:
        for i in range(n):
            check_cancel(cancel)
            writer.write(render(i / fps))
            if progress is not None:
                progress(Progress("video", i + 1, n))
        check_cancel(cancel)
        return writer.finish()

