"""Fuzzing the nnet3 and i-vector readers: truncated or corrupted files give deepbrain's own
clean errors naming the file, never a traceback, a hang or a huge allocation."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from nettools import mdl_bytes, synthetic_net
from test_fuzz import FUZZ, OPS, mutate
from test_nnet3_ivector import dubm_bytes, extractor_bytes
from deepbrain.errors import DeepbrainError
from deepbrain.nnet3 import nnet3_bytes, read_nnet3
from deepbrain.nnet3.ivector import read_cmvn_stats, read_diag_gmm, read_ivector_extractor
from deepbrain.kaldi_formats import KaldiWriter

NET = synthetic_net()
SOURCES = {
    "raw-binary": nnet3_bytes(NET, True),
    "raw-text": nnet3_bytes(NET, False),
    "mdl-binary": mdl_bytes(NET, True),
    "mdl-text": mdl_bytes(NET, False),
}


@pytest.mark.parametrize("name", sorted(SOURCES))
@FUZZ
@given(ops=OPS)
def test_nnet3_reader(tmp_path, name, ops):
    p = tmp_path / "f.mdl"
    p.write_bytes(mutate(SOURCES[name], ops))
    try:
        net = read_nnet3(p)
    except DeepbrainError as e:
        assert "f.mdl" in str(e)
        return
    feats = np.zeros((6, net.input_dim), np.float32)
    ivectors = np.zeros((1, net.ivector_dim), np.float32) if net.ivector_dim else None
    try:  # whatever parsed must also run, or say cleanly why not
        net.propagate_layers(feats, range(1, len(net.layer_names) + 1), output=True,
                             ivectors=ivectors)
    except DeepbrainError as e:
        assert "f.mdl" in str(e)


@FUZZ
@given(text=st.text(alphabet="AppendOffsetSumIfDefinedReplaceIndexScale(), -0123tx.:",
                    max_size=120))
def test_descriptor_text(tmp_path, text):
    p = tmp_path / "f.raw"
    p.write_bytes(nnet3_bytes(NET, False).replace(b"input=Append(tdnn4.scale, half)",
                                                  b"input=" + text.encode()))
    try:
        read_nnet3(p)
    except DeepbrainError as e:
        assert "f.raw" in str(e)


def cmvn_bytes(binary):
    w = KaldiWriter(binary)
    w.matrix(np.arange(10, dtype=np.float32).reshape(2, 5) + 1)
    return w.getvalue()


IVECTOR_SOURCES = {
    "dubm-binary": (lambda: dubm_bytes(True), read_diag_gmm),
    "dubm-text": (lambda: dubm_bytes(False), read_diag_gmm),
    "ie-binary": (lambda: extractor_bytes(True), read_ivector_extractor),
    "ie-text": (lambda: extractor_bytes(False), read_ivector_extractor),
    "cmvn-binary": (lambda: cmvn_bytes(True), read_cmvn_stats),
}


@pytest.mark.parametrize("name", sorted(IVECTOR_SOURCES))
@FUZZ
@given(ops=OPS)
def test_ivector_files(tmp_path, name, ops):
    make, reader = IVECTOR_SOURCES[name]
    p = tmp_path / "f.ie"
    p.write_bytes(mutate(make(), ops))
    try:
        reader(p)
    except DeepbrainError as e:
        assert "f.ie" in str(e)
