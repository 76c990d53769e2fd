"""One pipeline, two engines: wavs + a model directory -> per-layer activations.

Stages, named the same everywhere: mfcc -> cmvn -> splice -> transform -> forward.
``auto`` picks the Kaldi engine when Kaldi is found and says which it picked; a Kaldi
*failure* is an error, never a silent switch to numpy.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence


# The artefacts live in their own module; they are named here too for existing importers.
from .artefacts import (Activations, CancelHook, Chunk, Progress, ProgressHook,  # noqa: F401
                        Request, Stages, Utterance, check_cancel, chunks_of,
                        first_nonfinite, freeze_layers, nonfinite_error)
from .errors import AudioError, DeepbrainError, InputError
from .model import Model

if TYPE_CHECKING:
    from .nnet3model import Nnet3Model

# The seed's stages; a model's own are its front end's (gui.worker.stages_for).
STAGES = ("mfcc", "cmvn", "splice", "transform", "forward")
ENGINES = ("auto", "numpy", "kaldi")


# -- inputs ----------------------------------------------------------------------------------

def utterances_from_wavs(paths: Sequence[str | os.PathLike]) -> list[Utterance]:
    """Utterance ids are the wavs' stems; each utterance is its own speaker.

    A file name need not be text (Linux names are bytes): bytes that are not UTF-8 appear in
    the id as ``\\xff`` escapes, so that the id can be written to arks and JSON."""
    utts, seen = [], {}
    for p in paths:
        p = Path(p)
        stem = os.fsencode(p.stem).decode("utf-8", "backslashreplace")
        utt_id = re.sub(r"\s+", "_", stem) or "utt"
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
            raise InputError(f"{path}: entry {utt_id} is a command or stdin ({rx[:40]!r}); "
                              f"deepbrain reads wav files only: write the audio to a wav first")
        if utt2spk and utt_id not in speakers:
            raise InputError(f"{utt2spk}: has no speaker for utterance {utt_id}")
        utts.append(Utterance(utt_id, Path(rx), speakers.get(utt_id, utt_id)))
    if not utts:
        raise InputError(f"{path}: no utterances")
    return utts


def _read_table(path, what: str) -> list[tuple[str, str]]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the {what} ({e})") from None
    out, seen = [], set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            raise InputError(f"{path}: line {n} is not '<utt-id> <value>' ({what})")
        if parts[0] in seen:
            raise InputError(f"{path}: utterance {parts[0]} appears twice ({what})")
        seen.add(parts[0])
        out.append((parts[0], parts[1].strip()))
    return out


# -- engines ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class EngineChoice:
    """An engine and why it was picked. ``run`` gives whole utterances; ``stream``, where the
    engine has it, gives them as chunks of frames in flat memory."""

    name: str
    reason: str
    run: Callable[..., Iterator[Activations]] = field(repr=False)
    stream: Callable[..., Iterator[Chunk]] | None = field(default=None, repr=False)


def select_engine(name: str = "auto") -> EngineChoice:
    """The engine to use and why; ``auto`` prefers Kaldi when it is found and usable."""
    from .engines import kaldi_engine, numpy_engine

    def numpy(reason: str) -> EngineChoice:
        return EngineChoice("numpy", reason, numpy_engine.run, numpy_engine.stream)

    def kaldi_choice() -> EngineChoice:
        return EngineChoice("kaldi", kaldi_engine.require(kaldi), kaldi_engine.run,
                            kaldi_engine.stream)

    if name not in ENGINES:
        raise DeepbrainError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    if name == "numpy":
        return numpy("asked for")
    kaldi = kaldi_engine.find_kaldi()
    if name == "kaldi":
        return kaldi_choice()
    if kaldi is None:
        return numpy("no Kaldi found (KALDI_ROOT unset and no nnet-forward on PATH): using "
                     "the embedded numpy engine")
    if not kaldi_engine.usable(kaldi):
        try:
            kaldi_engine.require(kaldi)
        except DeepbrainError as e:
            return numpy(f"{e}: using the embedded numpy engine")
    return kaldi_choice()


def compute_activations(utts: Sequence[Utterance], model: Model, request: Request,
                        engine: str | EngineChoice = "auto",
                        progress: ProgressHook | None = None,
                        cancel: CancelHook | None = None) -> Iterator[Activations]:
    """Activations for each utterance, in order, computed by the chosen engine."""
    choice = select_engine(engine) if isinstance(engine, str) else engine
    request = replace(request, layers=check_layers(request.layers, model))  # () means all
    return choice.run(utts, model, request, progress=progress, cancel=cancel)


def stream_activations(utts: Sequence[Utterance], model: Model, request: Request,
                       engine: str | EngineChoice = "auto",
                       progress: ProgressHook | None = None,
                       cancel: CancelHook | None = None) -> Iterator[Chunk]:
    """The same, as chunks of frames in order (what ``deepbrain activations`` writes), so
    memory stays flat however long the audio."""
    choice = select_engine(engine) if isinstance(engine, str) else engine
    request = replace(request, layers=check_layers(request.layers, model))  # () means all
    if choice.stream is not None:
        return choice.stream(utts, model, request, progress=progress, cancel=cancel)
    return (c for act in choice.run(utts, model, request, progress=progress, cancel=cancel)
            for c in chunks_of(act))


def check_layers(layers: Sequence[int | str], model: "Model | Nnet3Model") -> tuple[int, ...]:
    """``layers`` (1-based numbers, or an nnet3 model's node names) checked against the model
    and given as sorted numbers; none means all of its hidden layers."""
    hidden = model.num_hidden
    if not layers:
        return tuple(range(1, hidden + 1))
    names = tuple(getattr(model, "layer_names", ()) or ())
    numbers = set()
    for k in layers:
        if isinstance(k, str):
            if k not in names:
                known = (f"its hidden layers are {', '.join(names)}" if names else
                         "its layers have no names: choose numbers")
                raise DeepbrainError(f"--layers: {model.network_file} has no hidden layer named "
                                     f"{k!r}; {known}")
            numbers.add(names.index(k) + 1)
        else:
            numbers.add(k)
    wrong = [k for k in sorted(numbers) if not 1 <= k <= hidden]
    if wrong:
        raise DeepbrainError(f"layer {wrong[0]} asked for, but {model.network_file} has "
                             f"hidden layers 1..{hidden}; choose --layers in that range")
    return tuple(sorted(numbers))
