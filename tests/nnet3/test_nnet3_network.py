"""nnet3 networks: reading and writing (binary, text, raw and final.mdl), the network
interface, and the forward pass against a computation written out by hand."""

import numpy as np
import pytest

from nettools import CONFIG, CONTEXT, LAYERS, components, mdl_bytes, reference, synthetic_net
from deepbrain.errors import FormatError
from deepbrain.nnet3 import build_nnet3, nnet3_bytes, read_nnet3
from deepbrain.nnet3 import components as C
from deepbrain.nnet3.network import parse_config_line


def ivectors_for(n_frames, period=10, dim=5, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(((n_frames + period - 1) // period, dim)).astype(np.float32)


def test_interface():
    net = synthetic_net()
    assert net.layer_names == LAYERS
    assert net.hidden_dims == (16, 16, 12, 10, 3)
    assert (net.input_dim, net.ivector_dim, net.output_dim) == (6, 5, 7)
    assert (net.left_context, net.right_context) == CONTEXT
    assert net.frame_subsampling_factor == 1 and net.modulus == 1
    assert net.layer_numbers(["2", 3, "tdnn4.tanh"]) == (2, 3, 4)
    with pytest.raises(FormatError, match="no hidden layer named 'xent.relu'"):
        net.layer_numbers(["xent.relu"])


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("mdl", [False, True])
def test_write_read_round_trip(tmp_path, binary, mdl):
    net = synthetic_net()
    p = tmp_path / ("final.mdl" if mdl else "final.raw")
    p.write_bytes(mdl_bytes(net, binary) if mdl else nnet3_bytes(net, binary))
    back = read_nnet3(p, frame_subsampling_factor=3)
    assert back.layer_names == net.layer_names and back.frame_subsampling_factor == 3
    assert [str(n.descriptor) for n in back.nodes] == [str(n.descriptor) for n in net.nodes]
    assert (back.transition_model is not None) == mdl
    if mdl:
        assert back.transition_model.num_pdfs == net.output_dim
    tol = 0 if binary else 1e-6  # text keeps 7 significant digits, as Kaldi's
    for name, comp in net.components.items():
        for attr in ("linear", "bias", "mean", "var", "vec", "offsets"):
            a, b = getattr(comp, attr, None), getattr(back.components[name], attr, None)
            if isinstance(a, np.ndarray):
                np.testing.assert_allclose(b, a, rtol=tol, atol=tol)
    assert nnet3_bytes(back, binary) == nnet3_bytes(net, binary) or not binary


@pytest.mark.parametrize("chunk", [50, 7, 1000])
def test_forward_equals_hand_computation(chunk):
    """Every layer and the output, with the i-vector nnet3-compute picks for each chunk."""
    net = synthetic_net()
    feats = np.random.default_rng(3).standard_normal((37, 6)).astype(np.float32)
    ivecs = ivectors_for(37)
    layers, out = net.propagate_layers(feats, [1, 2, 3, 4, 5], output=True, ivectors=ivecs,
                                       frames_per_chunk=chunk)

    def ivector_of(t):  # GetCurrentIvector: the middle frame of t's chunk
        first = t // chunk * chunk
        last = min(first + chunk, 37) - 1
        return ivecs[min((first + (last - first) // 2) // 10, len(ivecs) - 1)]

    want = reference(components(), feats, ivector_of)
    for k, name in enumerate(LAYERS, 1):
        assert layers[k].dtype == np.float32 and layers[k].shape == (37, net.hidden_dims[k - 1])
        np.testing.assert_allclose(layers[k], want[name], rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(out, want["output"], rtol=1e-4, atol=1e-5)


def test_only_what_is_asked_and_short_inputs():
    net = synthetic_net()
    feats = np.random.default_rng(4).standard_normal((3, 6)).astype(np.float32)
    layers, out = net.propagate_layers(feats, [2], ivectors=ivectors_for(3))
    assert set(layers) == {2} and out is None and layers[2].shape == (3, 16)
    full, _ = net.propagate_layers(feats, [1, 2, 5], ivectors=ivectors_for(3))
    np.testing.assert_allclose(full[2], layers[2], rtol=1e-5, atol=1e-5)  # BLAS blocking
    empty, _ = net.propagate_layers(np.zeros((0, 6), np.float32), [1], ivectors=ivectors_for(1))
    assert empty[1].shape == (0, 16)


def test_input_errors():
    net = synthetic_net()
    feats = np.zeros((20, 6), np.float32)
    with pytest.raises(FormatError, match="has 5 hidden layers, layer 6"):
        net.propagate_layers(feats, [6], ivectors=ivectors_for(20))
    with pytest.raises(FormatError, match="expects 6-dimensional features"):
        net.propagate_layers(np.zeros((20, 13), np.float32), [1], ivectors=ivectors_for(20))
    with pytest.raises(FormatError, match="needs 5-dimensional i-vectors"):
        net.propagate_layers(feats, [1])
    with pytest.raises(FormatError, match="mismatched i-vector period"):
        net.propagate_layers(np.zeros((200, 6), np.float32), [1], ivectors=ivectors_for(20))


def if_defined_net(seed=5):
    rng = np.random.default_rng(seed)
    config = ("input-node name=input dim=4\n"
              "component-node name=a component=a input=Append(Offset(input, -1), input, "
              "Offset(input, 1))\n"
              "component-node name=r component=r input=a\n"
              "component-node name=s component=s input=Sum(r, IfDefined(Offset(r, -5)))\n"
              "output-node name=output input=s\n")
    comps = {"a": C.AffineComponent(linear=(rng.standard_normal((3, 12))).astype(np.float32),
                                    bias=np.ones(3, np.float32)),
             "r": C.RectifiedLinearComponent(dim=3), "s": C.NoOpComponent(dim=3)}
    return build_nnet3(config, comps)


@pytest.mark.parametrize("chunk", [10, 50])
def test_if_defined_is_zero_before_the_chunk_window(chunk):
    """nnet3-compute gives each chunk only its context (1 frame here: IfDefined adds none),
    so Offset(r, -5) is undefined, hence zero, for a chunk's first 5 frames."""
    net = if_defined_net()
    assert (net.left_context, net.right_context) == (1, 1)
    feats = np.random.default_rng(6).standard_normal((23, 4)).astype(np.float32)
    _, out = net.propagate_layers(feats, [1], output=True, frames_per_chunk=chunk)
    r, _ = net.propagate_layers(feats, [1], frames_per_chunk=chunk)
    r = r[1]
    want = r.copy()
    for t in range(23):
        if t - 5 >= t // chunk * chunk:
            want[t] += r[t - 5]
    np.testing.assert_allclose(out, want, rtol=1e-6)


def test_config_line_values_may_hold_spaces():
    kind, pairs = parse_config_line("component-node name=x component=c "
                                    "input=Append(Offset(a, -1), b) foo='q r'")
    assert kind == "component-node"
    assert pairs == {"name": "x", "component": "c", "input": "Append(Offset(a, -1), b)",
                     "foo": "'q r'"}


@pytest.mark.parametrize("change, message", [
    (("tdnn1.relu input=tdnn1.affine", "tdnn1.relu input=lda"),
     "tdnn1.relu gets 23-dimensional input but its component tdnn1.relu .* takes 16"),
    (("input=tdnn3.affine\n", "input=Sum(tdnn3.affine, tdnn3.sigmoid)\n"), "node tdnn3"),
    (("input=prefinal.pnorm", "input=nosuch"), "no node named 'nosuch'"),
    (("component=tdnn4.linear", "component=gone"), "no component named 'gone'"),
    (("objective=linear\ncomponent-node name=xent", "bad=1\ncomponent-node name=xent"),
     "unexpected bad"),
    (("dim-offset=2 dim=6", "dim-offset=8 dim=6"), "takes dims 8..13 of tdnn3.sigmoid"),
    (("input-node name=ivector dim=5", "input-node name=ivector dim=5\ninput-node name=ivector "
                                       "dim=5"), "defined twice"),
    (("input=Append(tdnn4.scale, half)", "input=Append(tdnn4.scale, half"), "unexpected end"),
    (("name=output input", "name=outputs input"), "no output-node named output"),
])
def test_config_errors_name_the_problem(change, message):
    with pytest.raises(FormatError, match=message):
        build_nnet3(CONFIG.replace(*change), components())


def test_recurrent_networks_are_refused():
    config = CONFIG.replace("input=Sum(Scale(0.66, tdnn1.dropout), tdnnf2.batchnorm)",
                            "input=Sum(tdnnf2.batchnorm, IfDefined(Offset(tdnnf2.noop, -3)))")
    with pytest.raises(FormatError, match="tdnnf2.noop depends on itself .*recurrent"):
        build_nnet3(config, components())


def test_unknown_component_names_type_and_file(tmp_path):
    net = synthetic_net()
    p = tmp_path / "x.raw"
    data = nnet3_bytes(net, binary=False).replace(b"<PnormComponent>", b"<LstmNonlinearityComponent>")
    p.write_bytes(data.replace(b"</PnormComponent>", b"</LstmNonlinearityComponent>"))
    with pytest.raises(FormatError) as e:
        read_nnet3(p)
    assert str(p) in str(e.value)
    assert "prefinal.pnorm is a LstmNonlinearityComponent, which deepbrain cannot compute" \
        in str(e.value)


def test_other_files_are_refused_by_name(tmp_path):
    p = tmp_path / "final.nnet"
    p.write_bytes(b"<Nnet>\n<AffineTransform> 2 2\n</Nnet>\n")
    with pytest.raises(FormatError, match="not an nnet3 model or network \\(an nnet1 network\\)"):
        read_nnet3(p)
    with pytest.raises(FormatError, match="cannot read"):
        read_nnet3(tmp_path / "missing.mdl")


def test_batchnorm_without_statistics_is_an_error(tmp_path):
    from deepbrain.nnet3.network import Nnet3, _parse_config

    comps = components()
    bn = comps["tdnn1.batchnorm"]
    comps["tdnn1.batchnorm"] = C.BatchNormComponent(dim=16, block_dim=16, epsilon=0.001,
                                                    target_rms=1.0, count=0.0, mean=bn.mean,
                                                    var=bn.var)
    p = tmp_path / "x.raw"
    p.write_bytes(nnet3_bytes(Nnet3(_parse_config(CONFIG.splitlines(), comps, "x"), comps)))
    with pytest.raises(FormatError, match="tdnn1.batchnorm: BatchNormComponent has no statistics"):
        read_nnet3(p)
