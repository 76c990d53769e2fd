"""Fuzzing the parsers: truncated or corrupted inputs give only deepbrain's own clean errors."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from support import speechlike, tiny_nnet, wav_bytes
from deepbrain.audio import read_wav
from deepbrain.errors import DeepbrainError
from deepbrain.kaldi_formats import KaldiWriter, read_matrix_file, read_vector_file
from deepbrain.layermap import read_layer_map
from deepbrain.nnet1 import nnet_bytes, read_nnet
from deepbrain.options import load_mfcc_options
from test_nnet1 import every_kind

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def mutate(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for kind, pos, value in ops:
        if not b:
            break
        i = pos % len(b)
        if kind == 0:
            del b[i:]
        elif kind == 1:
            b[i] = value
        elif kind == 2:
            b.insert(i, value)
        else:
            del b[i:i + 1 + value % 8]
    return bytes(b)


OPS = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2**31), st.integers(0, 255)),
               min_size=1, max_size=4)


def matrix_file(binary):
    w = KaldiWriter(binary)
    w.matrix(np.arange(12, dtype=np.float32).reshape(3, 4) / 7)
    return w.getvalue()


def vector_file(binary):
    w = KaldiWriter(binary)
    w.vector(np.arange(5, dtype=np.float32) + 1)
    return w.getvalue()


SOURCES = {
    "nnet-binary": lambda: nnet_bytes(every_kind(np.random.default_rng(0)), True),
    "nnet-text": lambda: nnet_bytes(every_kind(np.random.default_rng(0)), False),
    "nnet-old-text": lambda: b"<Nnet>\n<Splice> 6 2\n[ -1 0 1 ]\n<AddShift> 6 6\n"
                             b"<LearnRateCoef> 0 [ 1 2 3 4 5 6 ]\n<Rescale> 6 6\n"
                             b"<LearnRateCoef> 0 [ 1 1 1 1 1 1 ]\n</Nnet>\n",
    "nnet-tiny": lambda: nnet_bytes(tiny_nnet(), True),
}


@pytest.mark.parametrize("name", sorted(SOURCES))
@FUZZ
@given(ops=OPS)
def test_nnet_reader(tmp_path, name, ops):
    p = tmp_path / "f.nnet"
    p.write_bytes(mutate(SOURCES[name](), ops))
    try:
        net = read_nnet(p)
    except DeepbrainError as e:
        assert "f.nnet" in str(e)
        return
    x = np.zeros((4, net.input_dim), np.float32)
    net.propagate(x)  # whatever parsed must also run


@pytest.mark.parametrize("binary", [True, False])
@FUZZ
@given(ops=OPS)
def test_matrix_and_vector_files(tmp_path, binary, ops):
    for name, data, reader in (("m", matrix_file(binary), read_matrix_file),
                               ("v", vector_file(binary), read_vector_file)):
        p = tmp_path / name
        p.write_bytes(mutate(data, ops))
        try:
            reader(p, "fuzz")
        except DeepbrainError as e:
            assert str(p) in str(e)


@FUZZ
@given(ops=OPS, bits=st.sampled_from([(8, 1), (16, 1), (24, 1), (32, 1), (32, 3)]),
       channels=st.integers(1, 2))
def test_wav_reader(tmp_path, ops, bits, channels):
    x = np.stack([speechlike(0.05)] * channels, 1).astype(np.float64)
    if bits[1] == 3:
        x = x / 32768
    elif bits[0] == 8:
        x = np.rint(x / 256)
    p = tmp_path / "f.wav"
    p.write_bytes(mutate(wav_bytes(x, bits=bits[0], fmt_tag=bits[1], channels=channels), ops))
    try:
        a = read_wav(p, channel=0)
    except DeepbrainError as e:
        assert "f.wav" in str(e)
        return
    assert a.samples.dtype == np.float32 and np.all(np.abs(a.samples) <= 32768)


@FUZZ
@given(text=st.text(max_size=200))
def test_mfcc_conf(tmp_path, text):
    p = tmp_path / "mfcc.conf"
    p.write_text(text, encoding="utf-8")
    try:
        load_mfcc_options(p)
    except DeepbrainError as e:
        assert "mfcc.conf" in str(e)


@FUZZ
@given(ops=OPS)
def test_layer_map(tmp_path, ops):
    d = tmp_path / "map"
    d.mkdir(exist_ok=True)
    (d / "vertices").write_bytes(mutate(b" 1.0e-01 2.0e-01\n 3.0e-01 -4.0e-01\n 5e-1 5e-1\n", ops))
    (d / "indices").write_bytes(mutate(b"1 2 3\n3 2 1\n", ops[::-1]))
    try:
        m = read_layer_map(d, 1)
    except DeepbrainError:
        return
    assert m.triangles.min() >= 0 and m.triangles.max() < m.num_units
