"""nnet1 reading (binary/text, old/new), writing (byte-identical to Kaldi) and forward."""

import numpy as np
import pytest

from support import UTTS, tiny_nnet
from deepbrain.errors import FormatError
from deepbrain.nnet1 import (AddShift, Copy, Dropout, LinearTransform, Nnet, ParametricRelu,
                             Rescale, Sigmoid, Softmax, Splice, Tanh, nnet_bytes, read_nnet,
                             write_nnet)


def test_binary_and_text_golden_networks_are_the_same(golden):
    b = read_nnet(golden / "model" / "final.nnet")
    t = read_nnet(golden / "model" / "final.nnet.txt")
    assert [c.marker for c in b.components] == ["<AffineTransform>", "<Sigmoid>"] * 3 + \
        ["<AffineTransform>", "<Softmax>"]
    assert (b.input_dim, b.output_dim, b.hidden_dims) == (440, 48, (256, 256, 256))
    for cb, ct in zip(b.components, t.components):
        if hasattr(cb, "linearity"):
            assert np.allclose(cb.linearity, ct.linearity, rtol=1e-6, atol=1e-7)
            assert np.allclose(cb.bias, ct.bias, rtol=1e-6, atol=1e-7)


def test_writer_is_byte_identical_to_kaldi(golden):
    for name, binary in (("final.nnet", True), ("final.nnet.txt", False)):
        original = (golden / "model" / name).read_bytes()
        assert nnet_bytes(read_nnet(golden / "model" / name), binary) == original


def test_old_format_feature_transform_without_end_markers(golden):
    ft = read_nnet(golden / "model" / "final.feature_transform")
    assert b"<!EndOfComponent>" not in (golden / "model" / "final.feature_transform").read_bytes()
    assert [type(c) for c in ft.components] == [Splice, AddShift, Rescale]
    assert ft.components[0].offsets.tolist() == list(range(-5, 6))
    assert (ft.input_dim, ft.output_dim) == (40, 440)


def test_kaldi_made_binary_feature_transform_loads_and_runs(golden, golden_arks):
    ft = read_nnet(golden / "model" / "kaldi.feature_transform")
    assert [type(c) for c in ft.components] == [Splice, AddShift, Rescale]
    x = ft.propagate(golden_arks["transformed"]["utt1"])
    assert x.shape == (golden_arks["transformed"]["utt1"].shape[0], 440)
    # cmvn-to-nnet made it from global statistics: the spliced features come out normalised.
    allx = np.vstack([ft.propagate(golden_arks["transformed"][u]) for u in UTTS])
    assert np.abs(allx.mean(axis=0)).max() < 0.2


def test_forward_from_kaldi_input_equals_kaldi_layers(golden, golden_arks):
    ft = read_nnet(golden / "model" / "final.feature_transform")
    for name in ("final.nnet", "final.nnet.txt"):
        nnet = read_nnet(golden / "model" / name)
        for u in UTTS:
            x = ft.propagate(golden_arks["transformed"][u])
            assert np.abs(x - golden_arks["nnet_input"][u]).max() <= 1e-5
            layers, out = nnet.propagate_layers(x)
            for k in (1, 2, 3):
                assert np.abs(layers[k] - golden_arks[f"layer{k}"][u]).max() <= 1e-5, (name, u, k)
            assert np.abs(out - golden_arks["posteriors"][u]).max() <= 1e-6


def test_marker_case_does_not_matter(tmp_path):
    p = tmp_path / "n.txt"
    p.write_text("<Nnet>\n<affinetransform> 2 3\n [\n 1 0 0\n 0 1 0 ]\n [ 0 1 ]\n"
                 "<SIGMOID> 2 2\n</Nnet>\n")
    net = read_nnet(p)
    assert net.propagate(np.array([[0, 0, 5]], np.float32)).tolist() == [[0.5, pytest.approx(
        1 / (1 + np.exp(-1)))]]


def every_kind(rng):
    return Nnet((
        Splice(3, 9, offsets=np.array([-1, 0, 1])),
        AddShift(9, 9, shift=rng.standard_normal(9).astype(np.float32)),
        Rescale(9, 9, scale=rng.random(9).astype(np.float32) + 0.5),
        LinearTransform(9, 6, linearity=rng.standard_normal((6, 9)).astype(np.float32)),
        Tanh(6, 6),
        Copy(6, 4, indices=np.array([5, 0, 2, 2])),
        ParametricRelu(4, 4, alpha=np.ones(4, np.float32),
                       beta=np.full(4, 0.25, np.float32)),
        Dropout(4, 4, dropout_rate=0.5),
        tiny_nnet(3, dims=(4, 5, 3)).components[0], Sigmoid(5, 5),
        tiny_nnet(4, dims=(5, 3)).components[0], Softmax(3, 3),
    ))


@pytest.mark.parametrize("binary", [True, False])
def test_every_component_round_trips(tmp_path, binary):
    rng = np.random.default_rng(7)
    net = every_kind(rng)
    write_nnet(net, tmp_path / "n", binary=binary)
    again = read_nnet(tmp_path / "n")
    x = rng.standard_normal((20, 3)).astype(np.float32)
    assert np.allclose(net.propagate(x), again.propagate(x), atol=1e-5)
    assert again.hidden_dims == (6, 4, 5)
    assert (tmp_path / "n").read_bytes().startswith(b"\0B") == binary


def test_component_semantics():
    x = np.array([[-2.0, 3.0]], np.float32)
    pr = ParametricRelu(2, 2, alpha=np.array([2, 2], np.float32), beta=np.array([.1, .1], np.float32))
    assert pr.propagate(x).tolist() == [[pytest.approx(-0.2), 6.0]]
    assert Copy(2, 3, indices=np.array([1, 1, 0])).propagate(x).tolist() == [[3, 3, -2]]
    assert Dropout(2, 2, dropout_rate=0.3).propagate(x) is x
    sm = Softmax(2, 2).propagate(np.array([[1000.0, 1000.0]], np.float32))
    assert sm.tolist() == [[0.5, 0.5]]
    assert Sigmoid(1, 1).propagate(np.array([[-200.0]], np.float32)).tolist() == [[0.0]]


def test_copy_indices_are_one_based_in_the_file(tmp_path):
    (tmp_path / "c").write_text("<Copy> 2 3\n[ 3 1 ]\n")
    assert read_nnet(tmp_path / "c").components[0].indices.tolist() == [2, 0]


def test_dropout_retention_is_read_as_rate(tmp_path):
    (tmp_path / "d").write_text("<Dropout> 2 2 <DropoutRetention> 0.75 <!EndOfComponent>\n")
    assert read_nnet(tmp_path / "d").components[0].dropout_rate == pytest.approx(0.25)


def test_only_requested_layers_are_computed():
    net = tiny_nnet()
    x = np.random.default_rng(0).standard_normal((5, 65)).astype(np.float32)
    layers, out = net.propagate_layers(x, want=(1,), want_output=False)
    assert list(layers) == [1] and out is None
    full, out = net.propagate_layers(x)
    assert np.array_equal(full[1], layers[1]) and out.shape == (5, 10)
    with pytest.raises(FormatError, match="has 2 hidden layers, layer 3"):
        net.propagate_layers(x, want=(3,))


def test_unknown_component_names_itself_and_the_file(tmp_path):
    p = tmp_path / "lstm.nnet"
    p.write_text("<Nnet>\n<LstmProjected> 10 10\n</Nnet>\n")
    with pytest.raises(FormatError, match=r"lstm.nnet: component <LstmProjected> is not supported"):
        read_nnet(p)


def test_dimensions_are_checked_between_components(tmp_path):
    p = tmp_path / "n"
    p.write_text("<Sigmoid> 4 4\n<Tanh> 3 3\n")
    with pytest.raises(FormatError, match="component 2 .<Tanh>. takes 3 inputs but component 1"):
        read_nnet(p)


def test_dimensions_are_checked_inside_components(tmp_path):
    p = tmp_path / "n"
    p.write_text("<AffineTransform> 2 3\n [\n 1 0\n 0 1 ]\n [ 0 1 ]\n")
    with pytest.raises(FormatError, match="AffineTransform 3 -> 2 has a 2 x 2 matrix"):
        read_nnet(p)


def test_input_dimension_is_checked():
    with pytest.raises(FormatError, match="expects 65-dimensional input"):
        tiny_nnet().propagate(np.zeros((3, 64), np.float32))


@pytest.mark.parametrize("cut", [3, 40, 1000, -10, -1])
def test_truncated_binary_file_is_a_clean_error(golden, tmp_path, cut):
    data = (golden / "model" / "final.nnet").read_bytes()
    p = tmp_path / "cut.nnet"
    p.write_bytes(data[:cut])
    with pytest.raises(FormatError, match="cut.nnet"):
        read_nnet(p)


@pytest.mark.parametrize("cut", [None, 1 << 20, (1 << 20) + 7, -10, -1])
def test_files_read_through_a_memory_map(tmp_path, cut):
    """Files of 1 MB and more are read through a memory map: the same network, and a
    truncated one is the same clean error."""
    from deepbrain.kaldi_formats import MAP_FROM
    from deepbrain.nnet1 import AffineTransform, Sigmoid

    rng = np.random.default_rng(0)
    big = Nnet((AffineTransform(600, 600, linearity=rng.standard_normal((600, 600)).astype(
        np.float32), bias=np.zeros(600, np.float32)), Sigmoid(600, 600)))
    whole = tmp_path / "whole.nnet"
    write_nnet(big, whole)
    data = whole.read_bytes()
    assert len(data) > MAP_FROM
    if cut is None:
        got = read_nnet(whole)
        assert np.array_equal(got.components[0].linearity, big.components[0].linearity)
        assert got.components[0].linearity.flags.writeable  # a copy, not the mapped file
        return
    p = tmp_path / "cut.nnet"
    p.write_bytes(data[:cut])
    with pytest.raises(FormatError, match="cut.nnet"):
        read_nnet(p)


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "e").write_bytes(b"")
    with pytest.raises(FormatError, match="no nnet1 components"):
        read_nnet(tmp_path / "e")
    with pytest.raises(FormatError, match="cannot read"):
        read_nnet(tmp_path / "missing")


def test_non_finite_parameters_are_corruption(tmp_path):
    p = tmp_path / "n"
    p.write_text("<AffineTransform> 1 1\n [\n nan ]\n [ 0 ]\n")
    with pytest.raises(FormatError, match="NaN or infinite parameters"):
        read_nnet(p)


def test_layer_pieces_chain_to_the_whole_network():
    net = tiny_nnet(dims=(65, 32, 24, 16, 10))
    pieces = net.layer_pieces()
    assert [len(p.components) for p in pieces] == [2, 2, 2, 2]
    x = np.random.default_rng(1).standard_normal((7, 65)).astype(np.float32)
    layers, out = net.propagate_layers(x)
    for k, piece in enumerate(pieces[:-1], 1):
        x = piece.propagate(x)
        assert np.array_equal(x, layers[k])
    assert np.array_equal(pieces[-1].propagate(x), out)
