"""nnet3 components: their parameters and their forward pass at test time, in float32.

Each class mirrors one of Kaldi's (``src/nnet3/nnet-*-component.cc``); ``FIELDS`` lists the
tokens its ``Write`` writes, in order, and what each holds (``component_io`` reads and writes
them). Test mode is what ``nnet3-compute`` sets: batch-norm uses its stored statistics,
dropout is off (the old ``DropoutComponent`` then scales by 1 - proportion, as Kaldi's does).

A component with ``time_offsets`` other than ``(0,)`` (``TdnnComponent``) sees its input spliced
at those offsets, ``t + o`` for each ``o``, side by side: the forward pass is then one affine
map, because Kaldi lays the linear parameters out in that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar, NamedTuple, Optional

import numpy as np

from ..errors import FormatError

F32 = np.float32


class Field(NamedTuple):
    """One ``<Token> value`` of a component: ``attr`` names the dataclass field it fills (or
    ``None``: kept in ``extras`` for writing back); ``write`` is ``always`` (the value, else
    ``default``), ``set`` (only when read or given) or ``never`` (old files only)."""

    token: str
    kind: str  # int, float, bool, flag, vector, matrix, intvec, int2, float2
    attr: Optional[str] = None
    default: object = None
    write: str = "always"


UPDATABLE = (
    Field("<LearningRateFactor>", "float", write="set"),
    Field("<IsGradient>", "bool", write="set"),
    Field("<MaxChange>", "float", write="set"),
    Field("<L2Regularize>", "float", write="set"),
    Field("<LearningRate>", "float", default=0.001),
)

NONLINEAR = (
    Field("<Dim>", "int", "dim"),
    Field("<BlockDim>", "int", write="set"),
    Field("<ValueAvg>", "vector", default=np.zeros(0, F32)),
    Field("<DerivAvg>", "vector", default=np.zeros(0, F32)),
    Field("<Count>", "float", default=0.0),
    Field("<OderivRms>", "vector", write="set"),
    Field("<OderivCount>", "float", write="set"),
    Field("<NumDimsSelfRepaired>", "float", default=0.0),
    Field("<NumDimsProcessed>", "float", default=0.0),
    Field("<SelfRepairLowerThreshold>", "float", write="set"),
    Field("<SelfRepairUpperThreshold>", "float", write="set"),
    Field("<SelfRepairScale>", "float", write="set"),
)

Fail = Callable[[str], FormatError]


@dataclass(frozen=True, eq=False)
class Component:
    """A component: ``propagate`` maps frames x ``input_dim * len(time_offsets)`` to
    frames x ``output_dim``."""

    extras: dict = field(default_factory=dict, repr=False)
    kind: ClassVar[str] = ""
    nonlinearity: ClassVar[bool] = False
    FIELDS: ClassVar[tuple[Field, ...]] = ()

    @property
    def input_dim(self) -> int:
        return self.dim

    @property
    def output_dim(self) -> int:
        return self.dim

    @property
    def time_offsets(self) -> tuple[int, ...]:
        return (0,)

    def check(self, fail: Fail) -> None:
        """Raise through ``fail`` if the parameters are missing or do not fit together."""
        for f in self.FIELDS:  # required: written always, no default
            if f.attr and f.write == "always" and f.default is None and \
                    getattr(self, f.attr) is None:
                raise fail(f"{self.kind} has no {f.token}")
        if self.input_dim <= 0 or self.output_dim <= 0:
            raise fail(f"{self.kind} has dimensions {self.input_dim} -> {self.output_dim}")

    def propagate(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _blocks(fail: Fail, kind: str, dim: int, block: int) -> None:
    if block <= 0 or dim % block:
        raise fail(f"{kind} of dimension {dim} has a block dimension of {block}")


# -- affine maps -----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class FixedAffineComponent(Component):
    kind = "FixedAffineComponent"
    FIELDS = (Field("<LinearParams>", "matrix", "linear"),
              Field("<BiasParams>", "vector", "bias"))
    linear: Optional[np.ndarray] = None
    bias: Optional[np.ndarray] = None

    @property
    def input_dim(self):
        return self.linear.shape[1] // len(self.time_offsets)

    @property
    def output_dim(self):
        return self.linear.shape[0]

    def check(self, fail):
        super().check(fail)
        if self.bias.shape not in ((self.output_dim,), (0,)) or \
                self.linear.shape[1] % len(self.time_offsets):
            raise fail(f"{self.kind} has a {self.linear.shape[0]} x {self.linear.shape[1]} "
                       f"matrix and a bias of dimension {self.bias.shape[0]}")

    def propagate(self, x):
        y = x @ self.linear.T
        return y + self.bias if self.bias.size else y


@dataclass(frozen=True, eq=False)
class AffineComponent(FixedAffineComponent):
    kind = "AffineComponent"
    FIELDS = UPDATABLE + (
        Field("<LinearParams>", "matrix", "linear"),
        Field("<BiasParams>", "vector", "bias"),
        Field("<OrthonormalConstraint>", "float", write="set"))


@dataclass(frozen=True, eq=False)
class NaturalGradientAffineComponent(FixedAffineComponent):
    kind = "NaturalGradientAffineComponent"
    FIELDS = UPDATABLE + (
        Field("<LinearParams>", "matrix", "linear"),
        Field("<BiasParams>", "vector", "bias"),
        Field("<RankIn>", "int", default=20),
        Field("<RankOut>", "int", default=80),
        Field("<OrthonormalConstraint>", "float", write="set"),
        Field("<UpdatePeriod>", "int", default=4),
        Field("<NumSamplesHistory>", "float", default=2000.0),
        Field("<Alpha>", "float", default=4.0),
        Field("<MaxChangePerSample>", "float", write="never"),
        Field("<UpdateCount>", "float", write="never"),
        Field("<ActiveScalingCount>", "float", write="never"),
        Field("<MaxChangeScaleStats>", "float", write="never"))


@dataclass(frozen=True, eq=False)
class LinearComponent(FixedAffineComponent):
    kind = "LinearComponent"
    FIELDS = UPDATABLE + (
        Field("<Params>", "matrix", "linear"),
        Field("<OrthonormalConstraint>", "float", write="set"),
        Field("<UseNaturalGradient>", "bool", default=True),
        Field("<RankInOut>", "int2", default=(20, 80)),
        Field("<Alpha>", "float", default=4.0),
        Field("<NumSamplesHistory>", "float", default=2000.0),
        Field("<UpdatePeriod>", "int", default=4))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, F32))


@dataclass(frozen=True, eq=False)
class TdnnComponent(FixedAffineComponent):
    """Affine over the input at ``t + o`` for each time offset ``o`` (bias optional)."""

    kind = "TdnnComponent"
    FIELDS = UPDATABLE + (
        Field("<TimeOffsets>", "intvec", "offsets"),
        Field("<LinearParams>", "matrix", "linear"),
        Field("<BiasParams>", "vector", "bias"),
        Field("<OrthonormalConstraint>", "float", default=0.0),
        Field("<UseNaturalGradient>", "bool", default=True),
        Field("<NumSamplesHistory>", "float", default=2000.0),
        Field("<AlphaInOut>", "float2", default=(4.0, 4.0)),
        Field("<RankInOut>", "int2", default=(20, 80)))
    offsets: Optional[np.ndarray] = None

    @property
    def time_offsets(self):
        return tuple(int(o) for o in self.offsets)

    def check(self, fail):
        if self.offsets is None or self.offsets.size == 0 or \
                len(set(self.offsets.tolist())) != self.offsets.size:
            raise fail("TdnnComponent needs distinct <TimeOffsets>")
        super().check(fail)


# -- element-wise ----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Nonlinear(Component):
    FIELDS = NONLINEAR
    dim: Optional[int] = None


@dataclass(frozen=True, eq=False)
class RectifiedLinearComponent(_Nonlinear):
    kind = "RectifiedLinearComponent"
    nonlinearity = True

    def propagate(self, x):
        return np.maximum(x, F32(0))


@dataclass(frozen=True, eq=False)
class SigmoidComponent(_Nonlinear):
    kind = "SigmoidComponent"
    nonlinearity = True

    def propagate(self, x):
        with np.errstate(over="ignore"):
            return (F32(1) / (F32(1) + np.exp(-x))).astype(F32, copy=False)


@dataclass(frozen=True, eq=False)
class TanhComponent(_Nonlinear):
    kind = "TanhComponent"
    nonlinearity = True

    def propagate(self, x):
        return np.tanh(x)


@dataclass(frozen=True, eq=False)
class SoftmaxComponent(_Nonlinear):
    kind = "SoftmaxComponent"

    def propagate(self, x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True, eq=False)
class LogSoftmaxComponent(_Nonlinear):
    kind = "LogSoftmaxComponent"

    def propagate(self, x):
        y = x - x.max(axis=1, keepdims=True)
        return y - np.log(np.exp(y).sum(axis=1, keepdims=True))


@dataclass(frozen=True, eq=False)
class PnormComponent(Component):
    """The 2-norm of each group of input_dim / output_dim consecutive inputs."""

    kind = "PnormComponent"
    nonlinearity = True
    FIELDS = (Field("<InputDim>", "int", "in_dim"), Field("<OutputDim>", "int", "out_dim"))
    in_dim: Optional[int] = None
    out_dim: Optional[int] = None

    input_dim = property(lambda self: self.in_dim)
    output_dim = property(lambda self: self.out_dim)

    def check(self, fail):
        super().check(fail)
        if self.in_dim % self.out_dim:
            raise fail(f"PnormComponent {self.in_dim} -> {self.out_dim}: not whole groups")

    def propagate(self, x):
        g = x.reshape(x.shape[0], self.out_dim, -1)
        return np.sqrt((g * g).sum(axis=2))


@dataclass(frozen=True, eq=False)
class NoOpComponent(Component):
    kind = "NoOpComponent"
    FIELDS = (Field("<Dim>", "int", "dim"), Field("<BackpropScale>", "float", default=1.0)) + \
        tuple(f._replace(write="never") for f in NONLINEAR[1:])
    dim: Optional[int] = None

    def propagate(self, x):
        return x


@dataclass(frozen=True, eq=False)
class DropoutComponent(Component):
    """In test mode Kaldi scales by 1 - dropout-proportion (training does not rescale)."""

    kind = "DropoutComponent"
    FIELDS = (Field("<Dim>", "int", "dim"),
              Field("<DropoutProportion>", "float", "proportion"),
              Field("<DropoutPerFrame>", "bool", default=False),
              Field("<TestMode>", "bool", write="set"))
    dim: Optional[int] = None
    proportion: Optional[float] = None

    def propagate(self, x):
        return x * F32(1.0 - self.proportion)


@dataclass(frozen=True, eq=False)
class GeneralDropoutComponent(Component):
    """Identity in test mode (training rescales the kept values)."""

    kind = "GeneralDropoutComponent"
    FIELDS = (Field("<Dim>", "int", "dim"),
              Field("<BlockDim>", "int", "block_dim"),
              Field("<TimePeriod>", "int", default=0),
              Field("<DropoutProportion>", "float", default=0.0),
              Field("<SpecAugmentMaxProportion>", "float", write="set"),
              Field("<SpecAugmentMaxRegions>", "int", write="set"),
              Field("<TestMode>", "flag", write="set"),
              Field("<Continuous>", "flag", write="set"))
    dim: Optional[int] = None
    block_dim: Optional[int] = None

    def propagate(self, x):
        return x


@dataclass(frozen=True, eq=False)
class SpecAugmentTimeMaskComponent(Component):
    """Identity in test mode."""

    kind = "SpecAugmentTimeMaskComponent"
    FIELDS = (Field("<Dim>", "int", "dim"),
              Field("<ZeroedProportion>", "float", default=0.0),
              Field("<TimeMaskMaxFrames>", "int", default=0),
              Field("<TestMode>", "flag", write="set"))
    dim: Optional[int] = None

    def propagate(self, x):
        return x


@dataclass(frozen=True, eq=False)
class NormalizeComponent(Component):
    """Each block scaled to an RMS of target-rms (``cu::NormalizePerRow``), optionally with
    the log of the block's original RMS appended."""

    kind = "NormalizeComponent"
    FIELDS = (Field("<InputDim>", "int", "dim"),
              Field("<Dim>", "int", "dim", write="never"),
              Field("<BlockDim>", "int", "block_dim", write="set"),
              Field("<TargetRms>", "float", "target_rms", 1.0),
              Field("<AddLogStddev>", "bool", "add_log_stddev", False),
              Field("<ValueAvg>", "vector", write="never"),
              Field("<DerivAvg>", "vector", write="never"),
              Field("<Count>", "float", write="never"))
    dim: Optional[int] = None
    block_dim: Optional[int] = None
    target_rms: float = 1.0
    add_log_stddev: bool = False

    @property
    def _block(self):
        return self.block_dim or self.dim

    @property
    def output_dim(self):
        return self.dim + (self.dim // self._block if self.add_log_stddev else 0)

    def check(self, fail):
        super().check(fail)
        _blocks(fail, self.kind, self.dim, self._block)
        if not self.target_rms > 0:
            raise fail(f"NormalizeComponent has target-rms {self.target_rms}")

    def propagate(self, x):
        n, b = x.shape[0], self._block
        blocks = x.reshape(-1, b)
        norm = (blocks * blocks).sum(axis=1) / F32(b * self.target_rms ** 2)
        scale = np.maximum(norm, F32(2.0 ** -66)) ** F32(-0.5)
        y = blocks * scale[:, None]
        if self.add_log_stddev:
            y = np.concatenate([y, (F32(np.log(self.target_rms)) - np.log(scale))[:, None]], 1)
        return y.reshape(n, -1).astype(F32, copy=False)


@dataclass(frozen=True, eq=False)
class BatchNormComponent(Component):
    """Test mode: (x - mean) / sqrt(var + epsilon) * target-rms, per block of block-dim."""

    kind = "BatchNormComponent"
    FIELDS = (Field("<Dim>", "int", "dim"),
              Field("<BlockDim>", "int", "block_dim"),
              Field("<Epsilon>", "float", "epsilon"),
              Field("<TargetRms>", "float", "target_rms"),
              Field("<TestMode>", "bool", default=False),
              Field("<Count>", "float", "count"),
              Field("<StatsMean>", "vector", "mean"),
              Field("<StatsVar>", "vector", "var"))
    dim: Optional[int] = None
    block_dim: Optional[int] = None
    epsilon: Optional[float] = None
    target_rms: Optional[float] = None
    count: Optional[float] = None
    mean: Optional[np.ndarray] = None
    var: Optional[np.ndarray] = None

    def check(self, fail):
        super().check(fail)
        _blocks(fail, self.kind, self.dim, self.block_dim)
        if self.mean.shape != (self.block_dim,) or self.var.shape != (self.block_dim,):
            raise fail(f"BatchNormComponent of block dimension {self.block_dim} has "
                       f"statistics of dimension {self.mean.shape[0]}, {self.var.shape[0]}")
        if not self.count > 0:
            raise fail("BatchNormComponent has no statistics (count 0); the model was never "
                       "trained or its batch-norm statistics were not stored")

    def scale_offset(self) -> tuple[np.ndarray, np.ndarray]:
        """Kaldi's ``ComputeDerived``: scale = (var + eps)^-0.5 target-rms, offset = -mean scale."""
        var = np.maximum(self.var.astype(np.float64), 0.0) + self.epsilon
        scale = var ** -0.5 * self.target_rms
        return scale.astype(F32), (-self.mean * scale).astype(F32)

    def propagate(self, x):
        scale, offset = self.scale_offset()
        return (x.reshape(-1, self.block_dim) * scale + offset).reshape(x.shape)


@dataclass(frozen=True, eq=False)
class _PerElement(Component):
    """A vector applied to each block of its dimension (dim may be a multiple of it)."""

    dim: Optional[int] = None
    vec: Optional[np.ndarray] = None

    @property
    def input_dim(self):
        return self.dim if self.dim is not None else self.vec.shape[0]

    output_dim = input_dim

    def check(self, fail):
        super().check(fail)
        _blocks(fail, self.kind, self.input_dim, self.vec.shape[0])

    def _apply(self, x, fn):
        return fn(x.reshape(-1, self.vec.shape[0]), self.vec).reshape(x.shape)


@dataclass(frozen=True, eq=False)
class FixedScaleComponent(_PerElement):
    kind = "FixedScaleComponent"
    FIELDS = (Field("<Scales>", "vector", "vec"),)

    def propagate(self, x):
        return self._apply(x, np.multiply)


@dataclass(frozen=True, eq=False)
class FixedBiasComponent(_PerElement):
    kind = "FixedBiasComponent"
    FIELDS = (Field("<Bias>", "vector", "vec"),)

    def propagate(self, x):
        return self._apply(x, np.add)


@dataclass(frozen=True, eq=False)
class PerElementScaleComponent(FixedScaleComponent):
    kind = "PerElementScaleComponent"
    FIELDS = UPDATABLE + (Field("<Params>", "vector", "vec"),)


@dataclass(frozen=True, eq=False)
class NaturalGradientPerElementScaleComponent(FixedScaleComponent):
    kind = "NaturalGradientPerElementScaleComponent"
    FIELDS = UPDATABLE + (
        Field("<Params>", "vector", "vec"),
        Field("<IsGradient>", "bool", default=False),
        Field("<Rank>", "int", default=8),
        Field("<UpdatePeriod>", "int", default=10),
        Field("<NumSamplesHistory>", "float", default=2000.0),
        Field("<Alpha>", "float", default=4.0),
        Field("<MaxChangePerMinibatch>", "float", write="never"))


@dataclass(frozen=True, eq=False)
class PerElementOffsetComponent(FixedBiasComponent):
    kind = "PerElementOffsetComponent"
    FIELDS = UPDATABLE + (
        Field("<Offsets>", "vector", "vec"),
        Field("<Dim>", "int", "dim"),
        Field("<UseNaturalGradient>", "bool", default=True))


@dataclass(frozen=True, eq=False)
class ScaleAndOffsetComponent(_PerElement):
    """x * scales + offsets, with |scales| floored at 1e-4 (``cu::EnsureNonzero``)."""

    kind = "ScaleAndOffsetComponent"
    FIELDS = UPDATABLE + (
        Field("<Dim>", "int", "dim"),
        Field("<Scales>", "vector", "vec"),
        Field("<Offsets>", "vector", "offsets"),
        Field("<UseNaturalGradient>", "bool", default=True),
        Field("<Rank>", "int", default=20))
    offsets: Optional[np.ndarray] = None

    def check(self, fail):
        super().check(fail)
        if self.offsets.shape != self.vec.shape:
            raise fail(f"ScaleAndOffsetComponent has {self.vec.shape[0]} scales and "
                       f"{self.offsets.shape[0]} offsets")

    def propagate(self, x):
        eps = F32(1e-4)
        s = np.where(np.abs(self.vec) >= eps, self.vec, np.where(self.vec >= 0, eps, -eps))
        return (x.reshape(-1, s.shape[0]) * s + self.offsets).reshape(x.shape)


COMPONENT_TYPES: dict[str, type[Component]] = {cls.kind: cls for cls in (
    FixedAffineComponent, AffineComponent, NaturalGradientAffineComponent, LinearComponent,
    TdnnComponent, RectifiedLinearComponent, SigmoidComponent, TanhComponent, SoftmaxComponent,
    LogSoftmaxComponent, PnormComponent, NoOpComponent, DropoutComponent,
    GeneralDropoutComponent, SpecAugmentTimeMaskComponent, NormalizeComponent,
    BatchNormComponent, FixedScaleComponent, FixedBiasComponent, PerElementScaleComponent,
    NaturalGradientPerElementScaleComponent, PerElementOffsetComponent,
    ScaleAndOffsetComponent)}
