"""Synthetic nnet3 networks for the tests, their Kaldi config, and a model file writer."""

from __future__ import annotations

import numpy as np

from deepbrain.kaldi_formats import KaldiWriter
from deepbrain.nnet3 import build_nnet3, nnet3_bytes
from deepbrain.nnet3 import components as C

F32 = np.float32

# A small TDNN-F-like network touching every kind of node, descriptor and most components.
# Its layers: tdnn1.relu, tdnnf2.relu, tdnn3.sigmoid, tdnn4.tanh, prefinal.pnorm (xent.relu
# is not on the way to 'output').
CONFIG = """\
input-node name=ivector dim=5
input-node name=input dim=6
component-node name=lda component=lda input=Append(Offset(input, -1), input, Offset(input, 1), ReplaceIndex(ivector, t, 0))
component-node name=tdnn1.affine component=tdnn1.affine input=lda
component-node name=tdnn1.relu component=tdnn1.relu input=tdnn1.affine
component-node name=tdnn1.batchnorm component=tdnn1.batchnorm input=tdnn1.relu
component-node name=tdnn1.dropout component=tdnn1.dropout input=tdnn1.batchnorm
component-node name=tdnnf2.linear component=tdnnf2.linear input=tdnn1.dropout
component-node name=tdnnf2.affine component=tdnnf2.affine input=tdnnf2.linear
component-node name=tdnnf2.relu component=tdnnf2.relu input=tdnnf2.affine
component-node name=tdnnf2.batchnorm component=tdnnf2.batchnorm input=tdnnf2.relu
component-node name=tdnnf2.noop component=tdnnf2.noop input=Sum(Scale(0.66, tdnn1.dropout), tdnnf2.batchnorm)
component-node name=tdnn3.affine component=tdnn3.affine input=Append(Offset(tdnnf2.noop, -3), tdnnf2.noop)
component-node name=tdnn3.sigmoid component=tdnn3.sigmoid input=tdnn3.affine
component-node name=tdnn3.norm component=tdnn3.norm input=tdnn3.sigmoid
dim-range-node name=half input-node=tdnn3.sigmoid dim-offset=2 dim=6
component-node name=tdnn4.linear component=tdnn4.linear input=tdnn3.norm
component-node name=tdnn4.tanh component=tdnn4.tanh input=tdnn4.linear
component-node name=tdnn4.scale component=tdnn4.scale input=tdnn4.tanh
component-node name=prefinal.affine component=prefinal.affine input=Append(tdnn4.scale, half)
component-node name=prefinal.pnorm component=prefinal.pnorm input=prefinal.affine
component-node name=output.affine component=output.affine input=prefinal.pnorm
component-node name=output.log-softmax component=output.log-softmax input=output.affine
output-node name=output input=output.log-softmax objective=linear
component-node name=xent.relu component=xent.relu input=tdnn4.linear
output-node name=output-xent input=xent.relu objective=linear
"""
LAYERS = ("tdnn1.relu", "tdnnf2.relu", "tdnn3.sigmoid", "tdnn4.tanh", "prefinal.pnorm")
CONTEXT = (5, 3)  # lda +-1, tdnnf2 (-1,0)+(0,2), tdnn3 -3


def _m(rng, rows, cols, scale=0.4):
    return (rng.standard_normal((rows, cols)) * scale).astype(F32)


def _v(rng, dim, scale=0.5, offset=0.0):
    return (rng.standard_normal(dim) * scale + offset).astype(F32)


def nonlinear(cls, dim):
    return cls(dim=dim, extras={"<ValueAvg>": np.zeros(0, F32), "<Count>": 0.0})


def batchnorm(rng, dim):
    return C.BatchNormComponent(dim=dim, block_dim=dim, epsilon=0.001, target_rms=1.0,
                                count=100.0, mean=_v(rng, dim), var=np.abs(_v(rng, dim)) + 0.3)


def components(seed: int = 0) -> dict[str, C.Component]:
    rng = np.random.default_rng(seed)
    return {
        "lda": C.FixedAffineComponent(linear=_m(rng, 23, 23), bias=_v(rng, 23)),
        "tdnn1.affine": C.NaturalGradientAffineComponent(linear=_m(rng, 16, 23), bias=_v(rng, 16)),
        "tdnn1.relu": nonlinear(C.RectifiedLinearComponent, 16),
        "tdnn1.batchnorm": batchnorm(rng, 16),
        "tdnn1.dropout": C.GeneralDropoutComponent(dim=16, block_dim=16),
        "tdnnf2.linear": C.TdnnComponent(offsets=np.array([-1, 0]), linear=_m(rng, 8, 32),
                                         bias=np.zeros(0, F32)),
        "tdnnf2.affine": C.TdnnComponent(offsets=np.array([0, 2]), linear=_m(rng, 16, 16),
                                         bias=_v(rng, 16)),
        "tdnnf2.relu": nonlinear(C.RectifiedLinearComponent, 16),
        "tdnnf2.batchnorm": batchnorm(rng, 16),
        "tdnnf2.noop": C.NoOpComponent(dim=16),
        "tdnn3.affine": C.AffineComponent(linear=_m(rng, 12, 32), bias=_v(rng, 12)),
        "tdnn3.sigmoid": nonlinear(C.SigmoidComponent, 12),
        "tdnn3.norm": C.NormalizeComponent(dim=12, target_rms=0.5),
        "tdnn4.linear": C.LinearComponent(linear=_m(rng, 10, 12)),
        "tdnn4.tanh": nonlinear(C.TanhComponent, 10),
        "tdnn4.scale": C.ScaleAndOffsetComponent(dim=10, vec=_v(rng, 5, offset=1.0),
                                                 offsets=_v(rng, 5)),
        "prefinal.affine": C.AffineComponent(linear=_m(rng, 9, 16), bias=_v(rng, 9)),
        "prefinal.pnorm": C.PnormComponent(in_dim=9, out_dim=3),
        "output.affine": C.AffineComponent(linear=_m(rng, 7, 3), bias=_v(rng, 7)),
        "output.log-softmax": nonlinear(C.LogSoftmaxComponent, 7),
        "xent.relu": nonlinear(C.RectifiedLinearComponent, 10),
    }


def synthetic_net(seed: int = 0):
    return build_nnet3(CONFIG, components(seed), "synthetic")


# -- the same network computed directly, frame by frame --------------------------------------

def reference(c: dict, feats: np.ndarray, ivector_of) -> dict[str, np.ndarray]:
    """The layers and the output at every frame, written out by hand from the architecture
    (not from the config): node values at any time t, inputs clamped to the utterance, and
    the i-vector ``ivector_of(t)`` of the output frame t for everything computed for it."""
    T = feats.shape[0]
    f64 = lambda a: np.asarray(a, np.float64)

    def bn(name, x):
        b = c[name]
        return (x - b.mean) / np.sqrt(f64(b.var) + b.epsilon) * b.target_rms

    def affine(name, x):
        comp = c[name]
        y = f64(comp.linear) @ x
        return y + comp.bias if comp.bias.size else y

    def values(t0):
        iv = f64(ivector_of(t0))
        memo = {}

        def node(name, t):
            if (name, t) not in memo:
                memo[name, t] = compute(name, t)
            return memo[name, t]

        def x(t):
            return f64(feats[min(max(t, 0), T - 1)])

        def compute(name, t):
            if name == "lda":
                return affine("lda", np.concatenate([x(t - 1), x(t), x(t + 1), iv]))
            if name == "tdnn1.relu":
                return np.maximum(affine("tdnn1.affine", node("lda", t)), 0)
            if name == "tdnn1.out":  # batchnorm, dropout (identity)
                return bn("tdnn1.batchnorm", node("tdnn1.relu", t))
            if name == "tdnnf2.linear":
                return affine("tdnnf2.linear", np.concatenate([node("tdnn1.out", t - 1),
                                                               node("tdnn1.out", t)]))
            if name == "tdnnf2.relu":
                return np.maximum(affine("tdnnf2.affine", np.concatenate(
                    [node("tdnnf2.linear", t), node("tdnnf2.linear", t + 2)])), 0)
            if name == "tdnnf2.noop":
                return 0.66 * node("tdnn1.out", t) + bn("tdnnf2.batchnorm", node("tdnnf2.relu", t))
            if name == "tdnn3.sigmoid":
                z = affine("tdnn3.affine", np.concatenate([node("tdnnf2.noop", t - 3),
                                                           node("tdnnf2.noop", t)]))
                return 1 / (1 + np.exp(-z))
            if name == "tdnn4.tanh":
                s = node("tdnn3.sigmoid", t)
                s = s * 0.5 / np.sqrt(np.mean(s * s))  # normalize to rms 0.5
                return np.tanh(f64(c["tdnn4.linear"].linear) @ s)
            if name == "prefinal.pnorm":
                so = c["tdnn4.scale"]
                scaled = node("tdnn4.tanh", t) * np.tile(f64(so.vec), 2) + np.tile(so.offsets, 2)
                z = affine("prefinal.affine", np.concatenate([scaled, node("tdnn3.sigmoid", t)[2:8]]))
                return np.sqrt((z.reshape(3, 3) ** 2).sum(axis=1))
            if name == "output":
                z = affine("output.affine", node("prefinal.pnorm", t))
                z = z - z.max()
                return z - np.log(np.exp(z).sum())
            raise KeyError(name)

        return node

    out = {n: np.zeros((T, 0)) for n in LAYERS + ("output",)}
    rows = {n: [] for n in out}
    for t in range(T):
        node = values(t)
        for n in rows:
            rows[n].append(node(n, t))
    return {n: np.array(r) for n, r in rows.items()}


# -- files -----------------------------------------------------------------------------------

def transition_model_bytes(binary: bool, num_pdfs: int = 7) -> bytes:
    """A small TransitionModel: one phone, one state per pdf... enough to be read past."""
    w = KaldiWriter(binary)
    w.token("<TransitionModel>")
    w.newline()
    w.token("<Topology>")
    if binary:
        w.int_vector(np.array([1]))
        w.int_vector(np.array([-1, 0]))
        w.int(1)  # entries
        w.int(1)  # states in the entry
        w.int(0)  # pdf class
        w.int(1)  # transitions
        w.int(0)
        w.float(1.0)
    else:
        w.text("\n<TopologyEntry>\n<ForPhones>\n1\n</ForPhones>\n<State> 0 <PdfClass> 0 "
               "<Transition> 0 0.5 <Transition> 1 0.5 </State>\n<State> 1 </State>\n"
               "</TopologyEntry>\n")
    w.token("</Topology>")
    w.token("<Triples>")
    w.int(num_pdfs)
    for p in range(num_pdfs):
        w.int(1)
        w.int(0)
        w.int(p)
    w.token("</Triples>")
    w.token("<LogProbs>")
    w.vector(np.full(num_pdfs + 1, -0.7, F32))
    w.token("</LogProbs>")
    w.token("</TransitionModel>")
    return w.getvalue()


def mdl_bytes(net, binary: bool = True) -> bytes:
    """A final.mdl: transition model, the network, left/right context and (no) priors."""
    w = KaldiWriter(binary)
    w.token("<LeftContext>")
    w.int(0)
    w.token("<RightContext>")
    w.int(0)
    w.token("<Priors>")
    w.vector(np.zeros(0, F32))
    tail = w.getvalue()[2:] if binary else w.getvalue()
    return transition_model_bytes(binary, net.output_dim) + \
        nnet3_bytes(net, binary)[2 if binary else 0:] + tail
