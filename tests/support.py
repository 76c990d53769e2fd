"""Helpers shared by the tests: paths to ../shared, synthetic networks, models and wavs."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from deepbrain.nnet1 import AffineTransform, Nnet, Sigmoid, Softmax, Splice, Tanh, write_nnet

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DEEPBRAIN_SHARED", ROOT.parent / "shared"))
GOLDEN = SHARED / "kaldi-golden"
SEED = SHARED / "reference" / "dnn-activation-brain"
UTTS = ("utt1", "utt2", "utt3", "utt4", "utt5")
SPEECH = ("utt1", "utt2", "utt3", "utt5")  # utt4 is the sweep: looser tolerance


def random_affine(rng, n_in, n_out, scale=0.3):
    return AffineTransform(n_in, n_out, linearity=(rng.standard_normal((n_out, n_in)) * scale
                                                   ).astype(np.float32),
                           bias=(rng.standard_normal(n_out) * 0.5).astype(np.float32))


def tiny_nnet(seed=0, dims=(65, 32, 24, 10)) -> Nnet:
    """dims[0] -> sigmoid -> tanh ... -> softmax."""
    rng = np.random.default_rng(seed)
    comps = []
    acts = [Sigmoid, Tanh]
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        comps.append(random_affine(rng, a, b))
        last = i == len(dims) - 2
        comps.append(Softmax(b, b) if last else acts[i % 2](b, b))
    return Nnet(tuple(comps))


def write_tiny_model(directory: Path, seed: int = 0) -> Path:
    """A model dir without final.mat: 13 MFCCs -> splice +-2 (65) -> 32 -> 24 -> 10."""
    directory.mkdir(parents=True, exist_ok=True)
    ft = Nnet((Splice(13, 65, offsets=np.arange(-2, 3)),))
    write_nnet(ft, directory / "final.feature_transform", binary=False)
    write_nnet(tiny_nnet(seed), directory / "final.nnet")
    (directory / "ali_train_pdf.counts").write_text("[ " + " ".join(
        str(10 * i + 5) for i in range(10)) + " ]\n")
    return directory


def wav_bytes(samples, rate=16000, channels=1, bits=16, fmt_tag=1, extensible=False,
              extra_chunks=b"", data_size=None) -> bytes:
    """A RIFF wav with the given (frames x channels or frames) samples in the file's own scale."""
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[:, None]
    if fmt_tag == 3:
        pcm = x.astype("<f4" if bits == 32 else "<f8").tobytes()
    elif bits == 8:
        pcm = (x + 128).astype(np.uint8).tobytes()
    elif bits == 24:
        v = x.astype(np.int64).reshape(-1) & 0xFFFFFF
        pcm = np.stack([v & 255, (v >> 8) & 255, v >> 16], axis=1).astype(np.uint8).tobytes()
    else:
        pcm = x.astype({16: "<i2", 32: "<i4"}[bits]).tobytes()
    block = channels * bits // 8
    if extensible:
        sub = struct.pack("<H", fmt_tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22,
                          bits, 0) + sub
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    size = len(pcm) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunks + \
        b"data" + struct.pack("<I", size) + pcm
    return b"RIFF" + struct.pack("<I", len(body)) + body


def speechlike(seconds=1.0, rate=16000, seed=0) -> np.ndarray:
    """Int16-range noise shaped by a moving formant: enough to give varied MFCCs."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f = 300 + 200 * np.sin(2 * np.pi * 1.5 * t)
    x = 4000 * np.sin(2 * np.pi * np.cumsum(f) / rate) + 800 * rng.standard_normal(n)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)




def write_frontend_model(directory: Path, files: dict[str, str], input_dim: int,
                         kaldi_dir: bool = True, final_mat: tuple[int, int] | None = None,
                         global_stats_dim: int | None = None, seed: int = 0,
                         hidden: tuple[int, ...] = (16, 12), outputs: int = 10,
                         splice: int = 0) -> Path:
    """A model dir with the given option files (relative path -> text), ``final.mdl`` when
    ``kaldi_dir`` (only its presence matters to the front end), a final.mat of ``final_mat``
    (rows, cols), global CMVN statistics for ``global_stats_dim``-dim features and a small
    sigmoid network taking ``input_dim`` inputs (the front end's dim), behind a
    final.feature_transform splicing +-``splice`` frames when ``splice``."""
    import kaldiio

    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    if kaldi_dir:
        (directory / "final.mdl").write_bytes(b"")
    rng = np.random.default_rng(seed)
    if final_mat is not None:
        kaldiio.save_mat(str(directory / "final.mat"),
                         (rng.standard_normal(final_mat) * 0.1).astype(np.float32))
    if global_stats_dim is not None:
        d = global_stats_dim
        frames = 5000.0
        mean, var = rng.standard_normal(d) * 2, 1 + rng.random(d) * 3
        stats = np.zeros((2, d + 1))
        stats[0, :d], stats[1, :d], stats[0, d] = mean * frames, (var + mean ** 2) * frames, frames
        kaldiio.save_mat(str(directory / "global_cmvn_stats.mat"), stats)
    if splice:
        offsets = np.arange(-splice, splice + 1)
        ft = Nnet((Splice(input_dim, input_dim * len(offsets), offsets=offsets),))
        write_nnet(ft, directory / "final.feature_transform", binary=False)
        input_dim *= len(offsets)
    dims = (input_dim, *hidden, outputs)
    write_nnet(tiny_nnet(seed, dims), directory / "final.nnet")
    return directory
