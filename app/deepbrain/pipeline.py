"""One pipeline, two engines: wavs + a model directory -> per-layer activations.

Stages, named the same everywhere: mfcc -> cmvn -> splice -> transform -> forward.
``auto`` picks the Kaldi engine when Kaldi is found and says which it picked; a Kaldi
*failure* is an error, never a silent switch to numpy.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from .errors import AudioError, Cancelled, DeepbrainError, FormatError
from .model import Model

STAGES = ("mfcc", "cmvn", "splice", "transform", "forward")
ENGINES = ("auto", "numpy", "kaldi")


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


@dataclass(frozen=True, eq=False)
class Stages:
    """Each stage's output for one utterance (what ``--keep-intermediate`` writes)."""

    feats: np.ndarray
    cmvn: np.ndarray
    cmvn_feats: np.ndarray
    spliced: np.ndarray | None
    transformed: np.ndarray | None
    nnet_input: np.ndarray

    def items(self) -> list[tuple[str, np.ndarray]]:
        """(golden-file name, matrix) for the stages this model has."""
        names = ("feats", "cmvn", "cmvn_feats", "spliced", "transformed", "nnet_input")
        return [(n, getattr(self, n)) for n in names if getattr(self, n) is not None]


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


ProgressHook = Callable[[Progress], None]
CancelHook = Callable[[], bool]


def check_cancel(cancel: CancelHook | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("cancelled")


# -- inputs ----------------------------------------------------------------------------------

def utterances_from_wavs(paths: Sequence[str | os.PathLike]) -> list[Utterance]:
    """Utterance ids are the wavs' stems; each utterance is its own speaker."""
    utts, seen = [], {}
    for p in paths:
        p = Path(p)
        utt_id = re.sub(r"\s+", "_", p.stem) or "utt"
        if utt_id in seen:
            raise AudioError(f"{p}: its utterance id {utt_id!r} is also that of {seen[utt_id]}; "
                             f"rename one, or list them in a wav.scp with --scp")
        seen[utt_id] = p
        utts.append(Utterance(utt_id, p, utt_id))
    return utts


def read_wav_scp(path: str | os.PathLike, utt2spk: str | os.PathLike | None = None
                 ) -> list[Utterance]:
    """A Kaldi ``wav.scp`` of ``utt_id path`` lines (paths relative to the current dir)."""
    entries = _read_table(path, "wav.scp")
    speakers = dict(_read_table(utt2spk, "utt2spk")) if utt2spk else {}
    utts = []
    for utt_id, rx in entries:
        if rx.endswith("|") or rx == "-":
            raise FormatError(f"{path}: entry {utt_id} is a command or stdin ({rx[:40]!r}); "
                              f"deepbrain reads wav files only: write the audio to a wav first")
        if utt2spk and utt_id not in speakers:
            raise FormatError(f"{utt2spk}: has no speaker for utterance {utt_id}")
        utts.append(Utterance(utt_id, Path(rx), speakers.get(utt_id, utt_id)))
    if not utts:
        raise FormatError(f"{path}: no utterances")
    return utts


def _read_table(path, what: str) -> list[tuple[str, str]]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: cannot read the {what} ({e})") from None
    out, seen = [], set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            raise FormatError(f"{path}: line {n} is not '<utt-id> <value>' ({what})")
        if parts[0] in seen:
            raise FormatError(f"{path}: utterance {parts[0]} appears twice ({what})")
        seen.add(parts[0])
        out.append((parts[0], parts[1].strip()))
    return out


# -- engines ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class EngineChoice:
    name: str
    reason: str
    run: Callable[..., Iterator[Activations]] = field(repr=False)


def select_engine(name: str = "auto") -> EngineChoice:
    """The engine to use and why; ``auto`` prefers Kaldi when it is found and usable."""
    from .engines import kaldi_engine, numpy_engine

    if name not in ENGINES:
        raise DeepbrainError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    if name == "numpy":
        return EngineChoice("numpy", "asked for", numpy_engine.run)
    kaldi = kaldi_engine.find_kaldi()
    if name == "kaldi":
        return EngineChoice("kaldi", kaldi_engine.require(kaldi), kaldi_engine.run)
    if kaldi is None:
        return EngineChoice("numpy", "no Kaldi found (KALDI_ROOT unset and no nnet-forward "
                            "on PATH): using the embedded numpy engine", numpy_engine.run)
    if not kaldi_engine.usable(kaldi):
        try:
            kaldi_engine.require(kaldi)
        except DeepbrainError as e:
            return EngineChoice("numpy", f"{e}: using the embedded numpy engine",
                                numpy_engine.run)
    return EngineChoice("kaldi", kaldi_engine.require(kaldi), kaldi_engine.run)


def compute_activations(utts: Sequence[Utterance], model: Model, request: Request,
                        engine: str | EngineChoice = "auto",
                        progress: ProgressHook | None = None,
                        cancel: CancelHook | None = None) -> Iterator[Activations]:
    """Activations for each utterance, in order, computed by the chosen engine."""
    choice = select_engine(engine) if isinstance(engine, str) else engine
    hidden = model.num_hidden
    for k in request.layers:
        if not 1 <= k <= hidden:
            raise DeepbrainError(f"layer {k} asked for, but {model.path / 'final.nnet'} has "
                                 f"hidden layers 1..{hidden}")
    return choice.run(utts, model, request, progress=progress, cancel=cancel)


def freeze_layers(layers: dict[int, np.ndarray]) -> Mapping[int, np.ndarray]:
    return MappingProxyType(dict(sorted(layers.items())))
