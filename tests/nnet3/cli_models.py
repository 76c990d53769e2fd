"""nnet3 model dirs for the CLI tests: a small one made without Kaldi (nettools' network,
hires MFCC of 6 dims, i-vectors given with --ivectors), and i-vector arks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from deepbrain.nnet3 import build_nnet3, nnet3_bytes
from deepbrain.nnet3 import components as C
from nettools import mdl_bytes, nonlinear, synthetic_net

MFCC_CONF = "--use-energy=false\n--num-ceps=6\n--num-mel-bins=20\n--sample-frequency=16000\n"
IVECTOR_DIM = 5  # nettools.CONFIG's ivector input


def synthetic_model_dir(root: Path, seed: int = 0, raw: bool = False) -> Path:
    """A Kaldi-layout nnet3 dir (final.mdl, conf/mfcc.conf, frame_subsampling_factor) whose
    network takes i-vectors but which has no extractor: they come with --ivectors. ``raw``:
    final.raw instead (nettools' transition model is not one Kaldi's HmmTopology accepts)."""
    (root / "conf").mkdir(parents=True)
    if raw:
        (root / "final.raw").write_bytes(nnet3_bytes(synthetic_net(seed)))
    else:
        (root / "final.mdl").write_bytes(mdl_bytes(synthetic_net(seed)))
    (root / "conf" / "mfcc.conf").write_text(MFCC_CONF)
    (root / "frame_subsampling_factor").write_text("3\n")
    return root


def write_ivectors(path: Path, frames: dict[str, int], period: int = 10, seed: int = 0,
                   scp: bool = False) -> dict[str, np.ndarray]:
    """i-vectors for utterances of the given frame counts, one every ``period`` frames."""
    import kaldiio

    rng = np.random.default_rng(seed)
    mats = {u: rng.standard_normal(((n + period - 1) // period, IVECTOR_DIM)).astype(np.float32)
            for u, n in frames.items()}
    kaldiio.save_ark(str(path), mats, scp=str(path.with_suffix(".scp")) if scp else None)
    return mats


# A network without an i-vector input and with layers wide enough for t-SNE maps (the
# window's and build-map --unlabelled's tests): 6-dim MFCC spliced +-1 -> 48 ReLU ->
# 40 sigmoid -> 7 outputs.
MAPPABLE_CONFIG = """\
input-node name=input dim=6
component-node name=tdnn1.affine component=tdnn1.affine input=Append(Offset(input, -1), input, Offset(input, 1))
component-node name=tdnn1.relu component=tdnn1.relu input=tdnn1.affine
component-node name=tdnn2.affine component=tdnn2.affine input=Append(Offset(tdnn1.relu, -1), tdnn1.relu)
component-node name=tdnn2.sigmoid component=tdnn2.sigmoid input=tdnn2.affine
component-node name=output.affine component=output.affine input=tdnn2.sigmoid
component-node name=output.log-softmax component=output.log-softmax input=output.affine
output-node name=output input=output.log-softmax objective=linear
"""
MAPPABLE_LAYERS = ("tdnn1.relu", "tdnn2.sigmoid")


def mappable_model_dir(root: Path, seed: int = 0, raw: bool = False) -> Path:
    """A Kaldi-layout nnet3 dir (final.mdl, conf/mfcc.conf) that needs no i-vectors;
    ``raw``: final.raw instead, for real Kaldi (see synthetic_model_dir)."""
    rng = np.random.default_rng(seed)

    def affine(rows, cols):
        return C.AffineComponent(linear=(rng.standard_normal((rows, cols)) * 0.3
                                         ).astype(np.float32),
                                 bias=(rng.standard_normal(rows) * 0.2).astype(np.float32))

    comps = {"tdnn1.affine": affine(48, 18), "tdnn1.relu": nonlinear(C.RectifiedLinearComponent, 48),
             "tdnn2.affine": affine(40, 96), "tdnn2.sigmoid": nonlinear(C.SigmoidComponent, 40),
             "output.affine": affine(7, 40),
             "output.log-softmax": nonlinear(C.LogSoftmaxComponent, 7)}
    (root / "conf").mkdir(parents=True)
    net = build_nnet3(MAPPABLE_CONFIG, comps, "mappable")
    if raw:
        (root / "final.raw").write_bytes(nnet3_bytes(net))
    else:
        (root / "final.mdl").write_bytes(mdl_bytes(net))
    (root / "conf" / "mfcc.conf").write_text(MFCC_CONF)
    return root
