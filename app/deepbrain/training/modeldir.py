"""Writing the trained model as a Kaldi nnet1 model directory that describes itself.

Files: ``final.nnet`` and ``final.feature_transform`` (binary nnet1, deepbrain's writer),
``final.mat`` (binary Kaldi matrix), ``ali_train_pdf.counts`` (text vector), ``phones.txt``,
the one-line option files ``cmvn_opts`` and ``splice_opts``, ``conf/mfcc.conf``, and
``examples/`` (a few test wavs with their text and per-frame phone labels).

The directory is built beside its destination and moved into place at the end, so a failure
leaves the old one as it was. Maps (``lda/K/``) are made later by another step from the
network's weights; they are carried over only when the new ``final.nnet`` is byte-identical
to the old one (a regenerated, deterministic model), since other weights need new maps.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import OutputExistsError
from ..kaldi_formats import KaldiWriter
from ..nnet1 import Nnet, write_nnet
from ..options import MfccOptions
from .frames import FrontEnd


@dataclass(frozen=True)
class Example:
    """An example wav: which test utterance, its voice, length and text."""

    utt_id: str
    voice: str
    seconds: float
    text: str


def matrix_bytes(m: np.ndarray) -> bytes:
    """A whole-file binary Kaldi float matrix (what copy-matrix --binary=true writes)."""
    w = KaldiWriter(binary=True)
    w.matrix(m)
    return w.getvalue()


def counts_text(counts: np.ndarray) -> str:
    """A Kaldi text vector of whole counts, as ali_train_pdf.counts is written."""
    return "[ " + " ".join(str(int(c)) for c in counts) + " ]\n"


def mfcc_conf(opts: MfccOptions) -> str:
    """conf/mfcc.conf: the options that differ from compute-mfcc-feats' defaults, and dither
    0 spelled out (Kaldi's default dithers; deepbrain's reader would keep 0 anyway)."""
    lines = [f"--sample-frequency={opts.sample_frequency:g}",
             f"--use-energy={'true' if opts.use_energy else 'false'}",
             f"--num-ceps={opts.num_ceps}",
             f"--dither={opts.dither:g}"]
    return "".join(line + "\n" for line in lines)


def write_model_files(d: Path, nnet: Nnet, feature_transform: Nnet, lda: np.ndarray,
                      counts: np.ndarray, phones_txt: str, front_end: FrontEnd) -> None:
    """Everything a model dir needs, into the (existing) folder ``d``."""
    write_nnet(nnet, d / "final.nnet", binary=True)
    write_nnet(feature_transform, d / "final.feature_transform", binary=True)
    (d / "final.mat").write_bytes(matrix_bytes(lda))
    (d / "ali_train_pdf.counts").write_text(counts_text(counts))
    (d / "phones.txt").write_text(phones_txt)
    cmvn = front_end.cmvn
    (d / "cmvn_opts").write_text(f"--norm-means={str(cmvn.norm_means).lower()} "
                                 f"--norm-vars={str(cmvn.norm_vars).lower()}\n")
    sp = front_end.splice
    (d / "splice_opts").write_text(f"--left-context={sp.left_context} "
                                   f"--right-context={sp.right_context}\n")
    (d / "conf").mkdir(exist_ok=True)
    (d / "conf" / "mfcc.conf").write_text(mfcc_conf(front_end.mfcc))


def write_examples(d: Path, examples: Sequence[Example], wavs: Mapping[str, Path],
                   labels: Mapping[str, np.ndarray]) -> None:
    """``examples/``: the wavs (copied byte for byte), ``text`` and ``phones.ark`` (int32
    phone ids per MFCC frame, keyed by the wav's stem)."""
    import kaldiio

    ex = d / "examples"
    ex.mkdir()
    for e in examples:
        shutil.copyfile(wavs[e.utt_id], ex / f"{e.utt_id}.wav")
    (ex / "text").write_text("".join(f"{e.utt_id} {e.text}\n" for e in examples))
    kaldiio.save_ark(str(ex / "phones.ark"),
                     {e.utt_id: np.asarray(labels[e.utt_id], dtype=np.int32) for e in examples})


def build_dir(out_dir: Path) -> Path:
    """A fresh hidden folder beside ``out_dir`` to build the model in."""
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def check_replaceable(out_dir: Path) -> None:
    """``out_dir`` must be new, empty, or a model dir (it has a final.nnet) to replace."""
    if out_dir.exists() and (not out_dir.is_dir() or (
            any(out_dir.iterdir()) and not (out_dir / "final.nnet").is_file())):
        raise OutputExistsError(f"{out_dir}: exists and is not a model directory; choose "
                                f"another output directory")


def install(build: Path, out_dir: Path) -> bool:
    """Move ``build`` to ``out_dir`` (replacing a model there); True if its maps were kept."""
    check_replaceable(out_dir)
    kept = False
    if out_dir.exists():
        old_maps, old_nnet = out_dir / "lda", out_dir / "final.nnet"
        if old_maps.is_dir() and old_nnet.is_file() and \
                old_nnet.read_bytes() == (build / "final.nnet").read_bytes():
            shutil.copytree(old_maps, build / "lda")
            kept = True
        trash = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(out_dir, trash)
        os.replace(build, out_dir)
        shutil.rmtree(trash)
    else:
        os.replace(build, out_dir)
    return kept


def dir_sizes(d: Path) -> dict[str, int]:
    """Bytes per file under ``d`` (relative paths, sorted)."""
    return {str(p.relative_to(d)): p.stat().st_size
            for p in sorted(d.rglob("*")) if p.is_file()}
