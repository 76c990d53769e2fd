"""nnet3 model dirs for the CLI tests: a small one made without Kaldi (nettools' network,
hires MFCC of 6 dims, i-vectors given with --ivectors), and i-vector arks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from deepbrain.nnet3 import nnet3_bytes
from nettools import mdl_bytes, synthetic_net

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
