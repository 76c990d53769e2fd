"""Kaldi nnet3 models: read ``final.mdl`` and raw networks, run them as ``nnet3-compute``,
and compute online i-vectors as ``ivector-extract-online2`` does. Qt-free; nothing here
imports the rest of deepbrain's pipeline."""

from .network import Nnet3, build_nnet3, nnet3_bytes, read_nnet3

__all__ = ["Nnet3", "build_nnet3", "nnet3_bytes", "read_nnet3"]
