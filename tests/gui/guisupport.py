"""Helpers for the GUI tests: a small model with maps, sinks and sources driven by the test,
and reading pixels back from the GL view. (Not a conftest: imported by name.)"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from deepbrain.layermap import LayerMap, write_layer_map
from deepbrain.nnet1 import Nnet, Sigmoid, Softmax, write_nnet
from support import SEED, random_affine, speechlike, wav_bytes, write_tiny_model

BACKGROUND = (20, 22, 26)


def display_reason() -> str | None:
    """Why GL tests cannot run here, or None when they can."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform.startswith(("offscreen", "minimal")):
        return f"QT_QPA_PLATFORM={platform} has no OpenGL; run under Xvfb (pytest-xvfb)"
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display: install Xvfb (apt-get install xvfb xauth) so pytest-xvfb starts it"
    return None


needs_display = pytest.mark.skipif(display_reason() is not None,
                                   reason=display_reason() or "")


def random_map(layer: int, units: int, seed: int) -> LayerMap:
    """Points scaled to [-0.9, 0.9] and their Delaunay triangles, as the seed's maps are."""
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(seed)
    pts = rng.random((units, 2))
    pts = (pts - pts.min(0)) / (pts.max(0) - pts.min(0)) * 1.8 - 0.9
    return LayerMap(layer, pts, Delaunay(pts).simplices.astype(np.int64))


def write_mapped_tiny_model(directory: Path) -> Path:
    """support.write_tiny_model (32 sigmoid -> 24 tanh -> 10 softmax) with a map per hidden
    layer."""
    write_tiny_model(directory)
    for k, units in ((1, 32), (2, 24)):
        write_layer_map(random_map(k, units, seed=k), directory / "lda" / str(k))
    return directory


def write_seed_model(directory: Path) -> Path:
    """The seed's model folder (7 x 2048 maps, its layers file) with a random network of
    the seed's shape; skips when ../shared is absent."""
    if not (SEED / "model" / "lda" / "1" / "vertices").is_file():
        pytest.skip(f"the seed's maps are not at {SEED} (../shared is absent)")
    shutil.copytree(SEED / "model", directory)
    for p in [directory, *directory.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.copy(SEED / "layers", directory / "layers")
    write_nnet(seed_architecture_nnet(), directory / "final.nnet")
    return directory


def seed_architecture_nnet() -> Nnet:
    """440 -> 7 x 2048 sigmoid -> 2031 softmax, random weights."""
    rng = np.random.default_rng(0)
    dims = (440,) + (2048,) * 7
    comps = []
    for a, b in zip(dims[:-1], dims[1:]):
        comps += [random_affine(rng, a, b, 0.05), Sigmoid(b, b)]
    comps += [random_affine(rng, 2048, 2031, 0.02), Softmax(2031, 2031)]
    return Nnet(tuple(comps))


def write_speech_wav(path: Path, seconds: float = 1.0, seed: int = 0) -> Path:
    path.write_bytes(wav_bytes(speechlike(seconds, seed=seed)))
    return path


class ManualSink:
    """An audio sink whose clock the test moves (seconds of output)."""

    description = "manual (test)"

    def __init__(self):
        self.stream = None
        self.position = 0.0
        self.starts: list[float] = []

    def start(self, stream) -> None:
        self.stream, self.position = stream, 0.0
        self.starts.append(stream.start)

    def advance(self, seconds: float) -> None:
        """Move the clock on (a stopped sink's clock moves on too, unheard)."""
        self.position += seconds * (self.stream.rate if self.stream is not None else 16000)

    def played(self) -> float:
        return min(self.position, self.stream.length) if self.stream is not None else 0.0

    def stop(self) -> None:
        self.stream = None


class DeviceSink(ManualSink):
    """Like a sound card: the test pumps blocks, which are read from the stream and kept."""

    def __init__(self):
        super().__init__()
        self.heard: list[np.ndarray] = []

    def start(self, stream) -> None:
        super().start(stream)
        self.heard = []

    def pump(self, n: int) -> None:
        block = self.stream.read(n)
        self.heard.append(block)
        self.position += block.shape[0]

    def samples(self) -> np.ndarray:
        return np.concatenate(self.heard) if self.heard else np.zeros(0, np.int16)


def cell_pixels(view) -> dict[int, np.ndarray]:
    from deepbrain.gui.mapview import grab_cells

    return grab_cells(view)


def lit_fraction(pixels: np.ndarray) -> float:
    """Share of pixels that are not the background."""
    diff = np.abs(pixels.astype(int) - np.array(BACKGROUND)).sum(axis=2)
    return float(np.mean(diff > 30))


def close_windows(windows: list) -> None:
    """Close and delete windows now, then collect garbage: left to Python's collector at a
    random later moment, pyqtgraph's items can be destroyed in the middle of another
    window's paint and crash the test process."""
    import gc

    from PyQt5 import QtCore

    for w in windows:
        w.close()
        w.deleteLater()
    windows.clear()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
    gc.collect()
