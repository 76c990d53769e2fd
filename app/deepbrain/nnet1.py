"""Kaldi nnet1 networks: read (text and binary, old and new files), write, and run forward.

Mirrors ``src/nnet/nnet-component.cc`` and the components' ``ReadData``: markers are matched
case-insensitively, ``<Nnet>``/``</Nnet>`` are optional, and ``<!EndOfComponent>`` is eaten
when present (files written before it existed have none). Dimensions are checked inside each
component and from one component to the next, as ``Nnet::Read`` does.

Arithmetic is float32 like Kaldi's CPU build; a hidden layer is the output of a nonlinearity
(Sigmoid, Tanh, ParametricRelu), counted from 1 in network order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar, Sequence

import numpy as np

from .blocks import Block, context_of, splice_block
from .errors import FormatError
from .kaldi_formats import KaldiStream, KaldiWriter

F32 = np.float32


@dataclass(frozen=True, eq=False)
class Component:
    """One nnet1 component; subclasses hold its parameters."""

    input_dim: int
    output_dim: int
    marker: ClassVar[str] = ""
    nonlinearity: ClassVar[bool] = False

    def check(self, fail: Callable[[str], FormatError]) -> None:
        """Raise through ``fail`` if the parameters do not fit the dimensions."""
        if self.input_dim <= 0 or self.output_dim <= 0:
            raise fail(f"{self.marker} has dimensions {self.input_dim} -> {self.output_dim}")

    def propagate(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def write_data(self, w: KaldiWriter) -> None:
        """Write what follows the dimensions (nothing for parameter-free components)."""


@dataclass(frozen=True, eq=False)
class _SameDim(Component):
    def check(self, fail):
        super().check(fail)
        if self.input_dim != self.output_dim:
            raise fail(f"{self.marker} must keep its dimension, has "
                       f"{self.input_dim} -> {self.output_dim}")


@dataclass(frozen=True, eq=False)
class Sigmoid(_SameDim):
    marker = "<Sigmoid>"
    nonlinearity = True

    def propagate(self, x):
        # Kaldi: x > 0 ? 1/(1+exp(-x)) : exp(x)/(exp(x)+1), the same function without overflow.
        with np.errstate(over="ignore"):
            return (F32(1) / (F32(1) + np.exp(-x))).astype(F32, copy=False)


@dataclass(frozen=True, eq=False)
class Tanh(_SameDim):
    marker = "<Tanh>"
    nonlinearity = True

    def propagate(self, x):
        return np.tanh(x).astype(F32, copy=False)


@dataclass(frozen=True, eq=False)
class Softmax(_SameDim):
    marker = "<Softmax>"

    def propagate(self, x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(F32, copy=False)


@dataclass(frozen=True, eq=False)
class Dropout(_SameDim):
    """Identity at inference (nnet-forward sets the dropout rate to 0)."""

    marker = "<Dropout>"
    dropout_rate: float = 0.0

    def propagate(self, x):
        return x

    def write_data(self, w):
        w.token("<DropoutRate>")
        w.float(self.dropout_rate)


@dataclass(frozen=True, eq=False)
class ParametricRelu(_SameDim):
    """y = x * (x >= 0 ? alpha : beta), per dimension."""

    marker = "<ParametricRelu>"
    nonlinearity = True
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0, F32))
    beta: np.ndarray = field(default_factory=lambda: np.zeros(0, F32))
    alpha_learn_rate_coef: float = 1.0
    beta_learn_rate_coef: float = 1.0

    def check(self, fail):
        super().check(fail)
        if self.alpha.shape != (self.output_dim,) or self.beta.shape != (self.output_dim,):
            raise fail(f"ParametricRelu of dimension {self.output_dim} has alpha "
                       f"{self.alpha.shape[0]} and beta {self.beta.shape[0]}")

    def propagate(self, x):
        return (x * np.where(x >= 0, self.alpha, self.beta)).astype(F32, copy=False)

    def write_data(self, w):
        w.token("<AlphaLearnRateCoef>")
        w.float(self.alpha_learn_rate_coef)
        w.token("<BetaLearnRateCoef>")
        w.float(self.beta_learn_rate_coef)
        w.newline()
        w.vector(self.alpha)
        w.vector(self.beta)


@dataclass(frozen=True, eq=False)
class AffineTransform(Component):
    marker = "<AffineTransform>"
    linearity: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), F32))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, F32))
    learn_rate_coef: float = 1.0
    bias_learn_rate_coef: float = 1.0
    max_norm: float = 0.0

    def check(self, fail):
        super().check(fail)
        if self.linearity.shape != (self.output_dim, self.input_dim):
            raise fail(f"AffineTransform {self.input_dim} -> {self.output_dim} has a "
                       f"{self.linearity.shape[0]} x {self.linearity.shape[1]} matrix")
        if self.bias.shape != (self.output_dim,):
            raise fail(f"AffineTransform with {self.output_dim} outputs has a bias of "
                       f"dimension {self.bias.shape[0]}")

    def propagate(self, x):
        return x @ self.linearity.T + self.bias

    def write_data(self, w):
        w.token("<LearnRateCoef>")
        w.float(self.learn_rate_coef)
        w.token("<BiasLearnRateCoef>")
        w.float(self.bias_learn_rate_coef)
        w.token("<MaxNorm>")
        w.float(self.max_norm)
        w.newline()
        w.matrix(self.linearity)
        w.vector(self.bias)


@dataclass(frozen=True, eq=False)
class LinearTransform(Component):
    marker = "<LinearTransform>"
    linearity: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), F32))
    learn_rate_coef: float = 1.0

    def check(self, fail):
        super().check(fail)
        if self.linearity.shape != (self.output_dim, self.input_dim):
            raise fail(f"LinearTransform {self.input_dim} -> {self.output_dim} has a "
                       f"{self.linearity.shape[0]} x {self.linearity.shape[1]} matrix")

    def propagate(self, x):
        return x @ self.linearity.T

    def write_data(self, w):
        w.token("<LearnRateCoef>")
        w.float(self.learn_rate_coef)
        w.newline()
        w.matrix(self.linearity)


@dataclass(frozen=True, eq=False)
class Splice(Component):
    """Frames at the given offsets side by side; edges repeat the first/last frame."""

    marker = "<Splice>"
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def check(self, fail):
        super().check(fail)
        if self.offsets.size * self.input_dim != self.output_dim:
            raise fail(f"Splice of {self.offsets.size} frames x {self.input_dim} dims "
                       f"cannot give {self.output_dim} outputs")

    def propagate(self, x):
        return splice_frames(x, self.offsets)

    def write_data(self, w):
        w.int_vector(self.offsets)


@dataclass(frozen=True, eq=False)
class _PerDim(_SameDim):
    """A parameter vector with one value per dimension, after an optional <LearnRateCoef>."""

    param: ClassVar[str] = ""
    learn_rate_coef: float = 0.0

    def vector(self) -> np.ndarray:
        return getattr(self, self.param)

    def check(self, fail):
        super().check(fail)
        if self.vector().shape != (self.output_dim,):
            raise fail(f"{self.marker.strip('<>')} of dimension {self.output_dim} has a "
                       f"{self.param} of dimension {self.vector().shape[0]}")

    def write_data(self, w):
        w.token("<LearnRateCoef>")
        w.float(self.learn_rate_coef)
        w.vector(self.vector())


@dataclass(frozen=True, eq=False)
class AddShift(_PerDim):
    marker = "<AddShift>"
    param = "shift"
    shift: np.ndarray = field(default_factory=lambda: np.zeros(0, F32))

    def propagate(self, x):
        return x + self.shift


@dataclass(frozen=True, eq=False)
class Rescale(_PerDim):
    marker = "<Rescale>"
    param = "scale"
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0, F32))

    def propagate(self, x):
        return x * self.scale


@dataclass(frozen=True, eq=False)
class Copy(Component):
    """Picks input dimensions; ``indices`` are 0-based here, 1-based in the file."""

    marker = "<Copy>"
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def check(self, fail):
        super().check(fail)
        if self.indices.shape != (self.output_dim,):
            raise fail(f"Copy with {self.output_dim} outputs has {self.indices.size} indices")
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= self.input_dim):
            raise fail(f"Copy index out of 1..{self.input_dim}")

    def propagate(self, x):
        return x[:, self.indices]

    def write_data(self, w):
        w.int_vector(self.indices + 1)


COMPONENT_TYPES: dict[str, type[Component]] = {
    cls.marker.lower(): cls
    for cls in (AffineTransform, LinearTransform, Sigmoid, Tanh, ParametricRelu, Softmax,
                Dropout, Splice, AddShift, Rescale, Copy)
}


def splice_frames(x: np.ndarray, offsets: Sequence[int]) -> np.ndarray:
    """Kaldi's splice: row t holds rows t+o for each offset o, clamped to the utterance."""
    n = x.shape[0]
    if n == 0:
        return np.zeros((0, x.shape[1] * len(offsets)), dtype=x.dtype)
    rows = np.arange(n)
    return np.concatenate([x[np.clip(rows + int(o), 0, n - 1)] for o in offsets], axis=1)


@dataclass(frozen=True, eq=False)
class Nnet:
    """An nnet1 network: components in order, and where it came from."""

    components: tuple[Component, ...]
    source: str = ""

    @property
    def input_dim(self) -> int:
        return self.components[0].input_dim

    @property
    def output_dim(self) -> int:
        return self.components[-1].output_dim

    @property
    def hidden_layer_components(self) -> tuple[int, ...]:
        """Indices of the components whose outputs are the hidden layers 1, 2, ..."""
        return tuple(i for i, c in enumerate(self.components) if c.nonlinearity)

    @property
    def hidden_dims(self) -> tuple[int, ...]:
        return tuple(self.components[i].output_dim for i in self.hidden_layer_components)

    def slice(self, start: int, stop: int | None = None) -> "Nnet":
        """Components ``start:stop`` as a network (what nnet-copy --remove-* makes)."""
        return Nnet(self.components[start:stop], self.source)

    def layer_pieces(self) -> tuple["Nnet", ...]:
        """The network cut after each hidden layer's nonlinearity: piece k maps layer k-1's
        output (the input for k = 1) to layer k's; the last piece maps the last hidden layer
        to the output. What nnet-copy --remove-first/last-components makes, in one pass."""
        cuts = [i + 1 for i in self.hidden_layer_components]
        bounds = [0] + cuts + ([len(self.components)] if cuts[-1:] != [len(self.components)]
                               else [])
        return tuple(self.slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]))

    def propagate(self, x: np.ndarray) -> np.ndarray:
        """The network's output for the rows of ``x`` (float32)."""
        x = _as_input(x, self.input_dim, self.source)
        for c in self.components:
            x = c.propagate(x)
        return x

    @property
    def layer_names(self) -> tuple[str, ...]:
        """What each hidden layer is called where a name is shown: its number and kind."""
        return tuple(f"{k} {self.components[i].marker.strip('<>')}"
                     for k, i in enumerate(self.hidden_layer_components, 1))

    @property
    def context(self) -> tuple[int, int]:
        """Frames of input needed before and after a frame (its Splice components)."""
        left = right = 0
        for c in self.components:
            if isinstance(c, Splice):
                lc, rc = context_of(c.offsets)
                left, right = left + lc, right + rc
        return left, right

    def propagate_block(self, block: Block, want: Sequence[int] = (), want_output: bool = False
                        ) -> tuple[dict[int, Block], Block | None]:
        """:meth:`propagate_layers` on a block of an utterance (see :mod:`deepbrain.blocks`):
        each Splice computes what its input block holds exactly, so the blocks returned
        cover the input's frames less the context of the Splices before them."""
        hidden = self.hidden_layer_components
        last = len(self.components) - 1 if want_output else max(
            (hidden[k - 1] for k in want), default=-1)
        layer_at = {hidden[k - 1]: k for k in want}
        b = block.with_rows(_as_input(block.x, self.input_dim, self.source))
        layers: dict[int, Block] = {}
        for i, c in enumerate(self.components[:last + 1]):
            b = splice_block(b, c.offsets) if isinstance(c, Splice) else \
                b.with_rows(c.propagate(b.x))
            if i in layer_at:
                layers[layer_at[i]] = b
        return layers, (b if want_output else None)

    def propagate_layers(self, x: np.ndarray, want: Sequence[int] | None = None,
                         want_output: bool = True) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
        """Hidden layer outputs (1-based layer number -> frames x units) and the output.

        Only the components up to the last thing wanted are run.
        """
        hidden = self.hidden_layer_components
        want = tuple(range(1, len(hidden) + 1)) if want is None else tuple(want)
        for k in want:
            if not 1 <= k <= len(hidden):
                raise FormatError(f"{self.source}: has {len(hidden)} hidden layers, "
                                  f"layer {k} was asked for")
        last = len(self.components) - 1 if want_output else max((hidden[k - 1] for k in want),
                                                                 default=-1)
        layer_at = {hidden[k - 1]: k for k in want}
        x = _as_input(x, self.input_dim, self.source)
        layers: dict[int, np.ndarray] = {}
        for i, c in enumerate(self.components[:last + 1]):
            x = c.propagate(x)
            if i in layer_at:
                layers[layer_at[i]] = x
        return layers, (x if want_output else None)


def _as_input(x: np.ndarray, dim: int, source: str) -> np.ndarray:
    x = np.asarray(x, dtype=F32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise FormatError(f"{source}: expects {dim}-dimensional input, got features of "
                          f"shape {x.shape}; the model's front end does not match this network")
    return x


# -- reading ---------------------------------------------------------------------------------

def read_nnet(path: str | os.PathLike) -> Nnet:
    """Read an nnet1 file (binary or text, with or without ``<!EndOfComponent>``)."""
    s = KaldiStream.open(path)
    components: list[Component] = []
    while not s.at_end():
        token = s.read_token()
        if token == "<Nnet>":
            continue
        if token == "</Nnet>":
            break
        c = _read_component(s, token)
        if components and components[-1].output_dim != c.input_dim:
            raise FormatError(f"{path}: component {len(components) + 1} ({c.marker}) takes "
                              f"{c.input_dim} inputs but component {len(components)} "
                              f"({components[-1].marker}) gives {components[-1].output_dim}")
        components.append(c)
    if not components:
        raise FormatError(f"{path}: holds no nnet1 components; is it an nnet1 network?")
    return Nnet(tuple(components), str(path))


def _read_component(s: KaldiStream, token: str) -> Component:
    cls = COMPONENT_TYPES.get(token.lower())
    if cls is None:
        if token.startswith("<") and token.endswith(">"):
            known = ", ".join(c.marker for c in COMPONENT_TYPES.values())
            raise FormatError(f"{s.source}: component {token} is not supported "
                              f"(deepbrain reads {known})")
        raise s.fail(f"expected a component marker, found {token[:30]!r}")
    output_dim, input_dim = s.read_int(), s.read_int()
    fields = _READERS.get(cls, _read_nothing)(s)
    comp = cls(input_dim=input_dim, output_dim=output_dim, **fields)
    comp.check(lambda what: FormatError(f"{s.source}: {what}"))
    if s.peek() == "<" and s.peek_token() == "<!EndOfComponent>":
        s.read_token()
    return comp


def _read_coefs(s: KaldiStream, allowed: dict[str, str]) -> dict[str, float]:
    """Kaldi's 'read all the <Tokens> in arbitrary order' loop before a component's data."""
    out: dict[str, float] = {}
    while s.peek() == "<":
        token = s.peek_token()
        if token == "<!EndOfComponent>":
            break
        if token not in allowed:
            raise s.fail(f"unknown token {token[:40]}")
        s.read_token()
        out[allowed[token]] = s.read_float()
    return out


def _read_nothing(s: KaldiStream) -> dict:
    return {}


def _read_affine(s):
    coefs = _read_coefs(s, {"<LearnRateCoef>": "learn_rate_coef",
                            "<BiasLearnRateCoef>": "bias_learn_rate_coef",
                            "<MaxNorm>": "max_norm"})
    return dict(coefs, linearity=s.read_matrix(), bias=s.read_vector())


def _read_linear(s):
    coefs = _read_coefs(s, {"<LearnRateCoef>": "learn_rate_coef"})
    return dict(coefs, linearity=s.read_matrix())


def _read_prelu(s):
    coefs = _read_coefs(s, {"<AlphaLearnRateCoef>": "alpha_learn_rate_coef",
                            "<BetaLearnRateCoef>": "beta_learn_rate_coef"})
    return dict(coefs, alpha=s.read_vector(), beta=s.read_vector())


def _read_dropout(s):
    coefs = _read_coefs(s, {"<DropoutRate>": "dropout_rate", "<DropoutRetention>": "retention"})
    if "retention" in coefs:
        coefs["dropout_rate"] = 1.0 - coefs.pop("retention")
    if not 0.0 <= coefs.get("dropout_rate", 0.0) < 1.0:
        raise s.fail(f"dropout rate {coefs['dropout_rate']} is outside [0, 1)")
    return coefs


def _per_dim_reader(param: str):
    def read(s):
        return dict(_read_coefs(s, {"<LearnRateCoef>": "learn_rate_coef"}),
                    **{param: s.read_vector()})
    return read


_READERS = {
    AffineTransform: _read_affine,
    LinearTransform: _read_linear,
    ParametricRelu: _read_prelu,
    Dropout: _read_dropout,
    Splice: lambda s: {"offsets": s.read_int_vector()},
    AddShift: _per_dim_reader("shift"),
    Rescale: _per_dim_reader("scale"),
    Copy: lambda s: {"indices": s.read_int_vector() - 1},
}


# -- writing ---------------------------------------------------------------------------------

def nnet_bytes(nnet: Nnet, binary: bool = True) -> bytes:
    """The network in Kaldi's new format (with ``<!EndOfComponent>``), as nnet-copy writes."""
    w = KaldiWriter(binary)
    w.token("<Nnet>")
    w.newline()
    for c in nnet.components:
        w.token(c.marker)
        w.int(c.output_dim)
        w.int(c.input_dim)
        w.newline()
        c.write_data(w)
        w.token("<!EndOfComponent>")
        w.newline()
    w.token("</Nnet>")
    w.newline()
    return w.getvalue()


def write_nnet(nnet: Nnet, path: str | os.PathLike, binary: bool = True) -> None:
    """Write atomically: a temporary file beside ``path``, then a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(nnet_bytes(nnet, binary))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

