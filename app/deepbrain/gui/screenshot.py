"""``deepbrain gui --screenshot``: one state of the window rendered to a PNG, then exit.

Everything about the PNG that can be checked is checked before any work: its name, an
existing file (kept unless ``--force``), the size asked for (deepbrain.export.parse_size,
and no more than this display's OpenGL renders: beyond it Qt crashed, exit 139), and its
folder, by creating the temporary file the picture will be written to. The picture is
encoded in memory, written to that file, synced, and only then renamed to the name asked
for: a full disk or a kill leaves no truncated PNG. Each kind of failure says what it is.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from PyQt5 import QtCore, QtGui

from ..errors import DeepbrainError, OutputError, OutputExistsError



def gl_max_side() -> int | None:
    """The largest picture side this display's OpenGL renders (the smallest of its maximum
    viewport, renderbuffer and texture sizes), or None when it cannot be asked."""
    context = QtGui.QOpenGLContext()
    surface = QtGui.QOffscreenSurface()
    if not context.create():
        return None
    surface.setFormat(context.format())
    surface.create()
    try:
        if not context.makeCurrent(surface):
            return None
        from OpenGL import GL

        sides = [int(v) for v in GL.glGetIntegerv(GL.GL_MAX_VIEWPORT_DIMS)]
        sides.append(int(GL.glGetIntegerv(GL.GL_MAX_RENDERBUFFER_SIZE)))
        sides.append(int(GL.glGetIntegerv(GL.GL_MAX_TEXTURE_SIZE)))
        return min(s for s in sides if s > 0)
    except Exception:  # an OpenGL without these queries: the window will tell
        return None
    finally:
        context.doneCurrent()
        surface.destroy()


def check_gl_size(size: tuple[int, int]) -> None:
    """Refuse a size this display's OpenGL cannot render (needs the QApplication)."""
    limit = gl_max_side()
    if limit is not None and max(size) > limit:
        raise DeepbrainError(f"--size {size[0]}x{size[1]}: this display's OpenGL renders at "
                             f"most {limit} pixels a side; choose a smaller --size")


def _write_error(path: Path, e: OSError, size: int | None = None) -> OutputError:
    """One precise line for a failure to write ``path``."""
    folder = path.parent
    why = {
        errno.ENOENT: f"the folder {folder} does not exist; create it or choose another "
                      f"--screenshot",
        errno.ENOTDIR: f"{folder} is not a folder; choose another --screenshot",
        errno.EACCES: f"no permission to write in {folder}; choose a folder you can write to",
        errno.EPERM: f"no permission to write in {folder}; choose a folder you can write to",
        errno.EROFS: f"{folder} is on a read-only file system; choose another folder",
        errno.ENOSPC: "no space left on the device" + (f" for the {size}-byte PNG" if size
                                                        else "") +
                      "; free some space or choose another folder",
        errno.EDQUOT: "the disk quota is used up; free some space or choose another folder",
        errno.ENAMETOOLONG: "the file name is too long for its file system; choose a shorter "
                            "name",
        errno.EISDIR: "is a folder; give a file name ending in .png",
    }.get(e.errno, f"cannot be written ({e.strerror})")
    if e.errno == errno.ENOENT and folder.is_dir():  # /proc/self, say: there, but no files
        why = f"{folder} does not take new files ({e.strerror}); choose another folder"
    return OutputError(f"{path}: {why}")


class PngFile:
    """The PNG a screenshot goes to: checked and started at once, finished by :meth:`write`.

    Use as a context manager: leaving without :meth:`write` (an error, a cancel) removes the
    temporary file and leaves any earlier PNG as it was."""

    def __init__(self, path: str | os.PathLike, force: bool = False):
        self.path = Path(path)
        self.force = force
        if self.path.suffix.lower() != ".png":
            raise DeepbrainError(f"{self.path}: --screenshot writes a PNG; give a file name "
                                 f"ending in .png")
        folder = self.path.parent
        try:
            limit = os.pathconf(folder, "PC_NAME_MAX")
        except (OSError, ValueError):
            limit = None
        if limit and len(os.fsencode(self.path.name)) > limit:
            raise _write_error(self.path, OSError(errno.ENAMETOOLONG, "File name too long"))
        try:
            mode = os.lstat(self.path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            mode = None
        except OSError as e:
            raise _write_error(self.path, e) from None
        if mode is not None and stat.S_ISDIR(mode):
            raise _write_error(self.path, OSError(errno.EISDIR, "Is a directory"))
        if mode is not None and not force:
            raise OutputExistsError(f"{self.path}: already exists; pass --force to replace it "
                                    f"or choose another name")
        try:
            self._fd, tmp = tempfile.mkstemp(prefix=".deepbrain-", suffix=".png.partial",
                                             dir=folder)
        except OSError as e:
            raise _write_error(self.path, e) from None
        self.tmp: Path | None = Path(tmp)

    def __enter__(self) -> "PngFile":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None

    def write(self, image: QtGui.QImage) -> Path:
        """Encode ``image``, write it to the temporary file, sync it, rename it into place."""
        data = encode_png(image)
        fd, self._fd = self._fd, -1
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._place()
        except OSError as e:
            raise _write_error(self.path, e, len(data)) from None
        self.tmp = None
        return self.path

    def _place(self) -> None:
        if self.force:
            os.replace(self.tmp, self.path)
            return
        try:  # a link fails if the name was taken meanwhile: nothing is overwritten
            os.link(self.tmp, self.path)
        except FileExistsError:
            raise OutputExistsError(f"{self.path}: appeared while the picture was made; pass "
                                    f"--force to replace it or choose another name") from None
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if self.path.exists():  # a file system without hard links
                raise OutputExistsError(f"{self.path}: appeared while the picture was made; "
                                        f"pass --force to replace it") from None
            os.replace(self.tmp, self.path)
            return
        self.tmp.unlink()


def encode_png(image: QtGui.QImage) -> bytes:
    """The PNG bytes of ``image``, made in memory."""
    buffer = QtCore.QBuffer()
    buffer.open(QtCore.QIODevice.WriteOnly)
    if image.isNull() or not image.save(buffer, "PNG"):
        raise DeepbrainError(f"Qt could not make the {image.width()}x{image.height()} picture "
                             f"into a PNG (out of memory?); choose a smaller --size")
    return bytes(buffer.data())
