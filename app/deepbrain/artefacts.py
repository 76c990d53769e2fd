"""The vocabulary every room shares: what is asked for and what comes back.

Utterances and requests go in; per-utterance :class:`Activations` (or, streamed, their
:class:`Chunk` s) come out; :class:`Progress` and the cancel hook go along. The engines, the
pipeline, the results writer and the window import these from here, so no room imports
another to speak of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .errors import Cancelled, DeepbrainError, ModelError


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    path: Path
    speaker: str


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of work finished in ``stage``."""

    stage: str
    done: int
    total: int
    utt_id: str = ""


@dataclass(frozen=True)
class Request:
    """What to compute: which hidden layers (1-based), the output too, the stage outputs too."""

    layers: tuple[int, ...]
    output: bool = False
    keep_intermediate: bool = False
    channel: int | None = None
    resample: bool = False
    nj: int = 1                       # Kaldi engine: parallel jobs
    keep_workdir: Path | None = None  # Kaldi engine: keep its work dir here
    cmd: str | None = None            # Kaldi engine: how jobs run (slurm.pl ...); None: cmd.sh
    ivectors: Path | None = None      # nnet3: online i-vectors made elsewhere (ark or scp)
    ivector_period: int | None = None  # nnet3: their period in frames (None: the model's)


class Stages:
    """Each front-end stage's output for one utterance or chunk (what ``--keep-intermediate``
    writes), in chain order, by the names Kaldi recipes use: ``feats``, ``cmvn`` (the
    statistics), ``cmvn_feats``, ``deltas``, ``spliced``, ``transformed``, ``nnet_input``.
    ``stages.feats`` and ``stages["feats"]`` both work."""

    def __init__(self, outputs: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]]):
        items = outputs.items() if isinstance(outputs, Mapping) else outputs
        self._outputs = MappingProxyType({k: v for k, v in items if v is not None})

    def items(self) -> list[tuple[str, np.ndarray]]:
        return list(self._outputs.items())

    def names(self) -> tuple[str, ...]:
        return tuple(self._outputs)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._outputs[name]

    def __contains__(self, name: str) -> bool:
        return name in self._outputs

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["_outputs"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True, eq=False)
class Activations:
    """One utterance's hidden layer outputs (layer number -> frames x units, float32)."""

    utt_id: str
    layers: Mapping[int, np.ndarray]
    output: np.ndarray | None
    frame_shift: float
    engine: str
    stages: Stages | None = None

    @property
    def num_frames(self) -> int:
        return next(iter(self.layers.values())).shape[0] if self.layers else \
            (self.output.shape[0] if self.output is not None else 0)


@dataclass(frozen=True, eq=False)
class Chunk:
    """Frames ``start .. start + rows`` of an utterance of ``total`` frames: every requested
    layer's rows (and the output's and the stages', when asked for). An utterance streams
    as chunks in order; its first has ``start == 0`` and its last ends at ``total``.
    ``whole`` holds what belongs to the utterance rather than to frames (the CMVN
    statistics), given with the first chunk."""

    utt_id: str
    start: int
    total: int
    layers: Mapping[int, np.ndarray]
    output: np.ndarray | None = None
    stages: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))
    whole: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def rows(self) -> int:
        for m in (*self.layers.values(), self.output, *self.stages.values()):
            if m is not None:
                return m.shape[0]
        return 0

    @property
    def first(self) -> bool:
        return self.start == 0

    @property
    def last(self) -> bool:
        return self.start + self.rows >= self.total

    def matrices(self) -> list[tuple[str, np.ndarray]]:
        """(table name, rows) in the order results are written."""
        out = [(f"layer{k}", m) for k, m in self.layers.items()]
        if self.output is not None:
            out.append(("output", self.output))
        out.extend(self.stages.items())
        return out


def chunks_of(act: Activations) -> Iterator[Chunk]:
    """A whole utterance as one chunk (what engines that compute whole utterances give)."""
    stages = dict(act.stages.items()) if act.stages is not None else {}
    whole = {"cmvn": stages.pop("cmvn")} if "cmvn" in stages else {}
    yield Chunk(act.utt_id, 0, act.num_frames, act.layers, act.output,
                MappingProxyType(stages), MappingProxyType(whole))


def collect(chunks: Iterable[Chunk], frame_shift: float, engine: str, keep_stages: bool
            ) -> Iterator[Activations]:
    """Whole utterances from their chunks, in order."""
    parts: list[Chunk] = []
    for chunk in chunks:
        parts.append(chunk)
        if chunk.last:
            yield _join(parts, frame_shift, engine, keep_stages)
            parts = []
    if parts:
        raise RuntimeError(f"utterance {parts[0].utt_id} ended before its last chunk")


def _join(parts: list[Chunk], frame_shift: float, engine: str, keep: bool) -> Activations:
    def cat(ms):
        return ms[0] if len(ms) == 1 else np.concatenate(ms)

    first = parts[0]
    layers = {k: cat([p.layers[k] for p in parts]) for k in first.layers}
    output = cat([p.output for p in parts]) if first.output is not None else None
    stages = None
    if keep:
        names = list(first.whole) + list(first.stages)
        stages = Stages([(n, first.whole[n] if n in first.whole else
                          cat([p.stages[n] for p in parts])) for n in names])
    return Activations(first.utt_id, freeze_layers(layers), output, frame_shift, engine, stages)


ProgressHook = Callable[[Progress], None]
CancelHook = Callable[[], bool]


def check_cancel(cancel: CancelHook | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("cancelled")


def freeze_layers(layers: dict[int, np.ndarray]) -> Mapping[int, np.ndarray]:
    return MappingProxyType(dict(sorted(layers.items())))


# -- numbers that overflowed -------------------------------------------------------------------

# Where a stage's numbers come from: the file to look at when a stage gives NaN or inf.
_STAGE_SOURCE = {"feats": "feature config (conf/mfcc.conf or conf/fbank.conf: e.g. a huge "
                          "--dither or --preemphasis-coefficient)",
                 "pitch": "conf/pitch.conf", "cmvn_feats": "cmvn_opts / online_cmvn_opts",
                 "deltas": "delta_opts", "spliced": "splice_opts", "transformed": "final.mat",
                 "nnet_input": "final.feature_transform", "output": "final.nnet",
                 "ivector": "i-vectors (the i-vector extractor's files, or --ivectors)"}


def first_nonfinite(stages: Sequence[tuple[str, np.ndarray | None]]) -> tuple[str, int] | None:
    """The first (stage, row) whose values are NaN or infinite, in the order given."""
    for name, m in stages:
        if m is not None and m.size and not np.isfinite(m).all():
            bad = ~np.isfinite(m).all(axis=tuple(range(1, m.ndim)))
            return name, int(np.flatnonzero(bad)[0])
    return None


def nonfinite_error(utt_id: str, stage: str, frame: int | None, model_path: Path | str
                    ) -> DeepbrainError:
    """The error for NaN/inf values first seen in ``stage`` (at ``frame`` when known), naming
    the file they come from."""
    source = _STAGE_SOURCE.get(stage, "final.nnet (weights so large that sums overflow)")
    where = f" (first at frame {frame})" if frame is not None else ""
    return ModelError(f"{model_path}: utterance {utt_id}: stage {stage} gave NaN or infinite "
                      f"values{where}; they come from the model's {source}: fix that file; "
                      f"nothing was written")
