"""The embedded engine's route for nnet3 models: what ``getact_nnet3.sh`` runs, in numpy.

Stages (the recipe's names): mfcc (compute-mfcc-feats with the model's hires mfcc.conf) ->
ivector (ivector-extract-online2, one utterance at a time, or the i-vectors given with
``--ivectors``) -> forward (nnet3-compute with its defaults: chunks of 50 frames, every
frame). An utterance is computed whole (nnet3-compute's chunks of 50 frames need the network's
context around them; the i-vectors run from the utterance's start), then streamed out as
chunks of frames; memory holds one utterance's features and layers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..artefacts import (
    CancelHook,
    Chunk,
    Progress,
    ProgressHook,
    Request,
    Utterance,
    check_cancel,
    first_nonfinite,
    nonfinite_error,
)
from ..audio import open_for_model
from ..errors import FormatError
from ..features import FeatureStream, expected_frames
from ..nnet3.ivector import read_online_ivectors
from ..nnet3model import Nnet3Model

FRAMES_PER_CHUNK = 50  # nnet3-compute's default --frames-per-chunk


def stream(utts: Sequence[Utterance], model: Nnet3Model, request: Request,
           progress: ProgressHook | None, cancel: CancelHook | None, chunk_frames: int
           ) -> Iterator[Chunk]:
    report = progress or (lambda p: None)
    given = given_ivectors(model, request, [u.utt_id for u in utts])
    period = request.ivector_period or model.ivector_period
    for n, utt in enumerate(utts, 1):
        check_cancel(cancel)
        feats = mfcc(utt, model, request)
        report(Progress("mfcc", n, len(utts), utt.utt_id))
        ivectors = None
        if given is not None:
            ivectors = given[utt.utt_id]
        elif model.takes_ivectors:
            ivectors = model.ivector_extractor.extract(feats)
            report(Progress("ivector", n, len(utts), utt.utt_id))
        check_cancel(cancel)
        with np.errstate(over="ignore", invalid="ignore"):  # named below, in one line
            layers, output = model.net.propagate_layers(feats, request.layers, request.output,
                                                        ivectors, period, FRAMES_PER_CHUNK)
        found = first_nonfinite([("feats", feats), ("ivector", ivectors),
                                 *((f"layer{k}", m) for k, m in layers.items()),
                                 ("output", output)])
        if found is not None:
            raise nonfinite_error(utt.utt_id, *found, model.path)
        report(Progress("forward", n, len(utts), utt.utt_id))
        total = feats.shape[0]
        for a in range(0, total, chunk_frames):
            b = min(total, a + chunk_frames)
            yield Chunk(utt.utt_id, a, total,
                        MappingProxyType({k: m[a:b] for k, m in layers.items()}),
                        output[a:b] if output is not None else None)


def mfcc(utt: Utterance, model: Nnet3Model, request: Request) -> np.ndarray:
    """compute-mfcc-feats with the hires options, the audio read a piece at a time."""
    with open_for_model(utt.path, model.sample_rate, request.channel, request.resample) as src:
        expected_frames(src.num_samples, src.sample_rate, model.features, src.source)
        fs = FeatureStream(model.features)
        parts = [fs.accept(piece) for piece in src.pieces()]
        parts.append(fs.finish())
    feats = np.concatenate(parts)
    if model.features.subtract_mean:
        feats -= feats.mean(axis=0, dtype=np.float64).astype(np.float32)
    return feats


def given_ivectors(model: Nnet3Model, request: Request, utt_ids: Sequence[str]
                   ) -> dict[str, np.ndarray] | None:
    """``--ivectors``, read and checked against the model and the utterances (None: none)."""
    if request.ivectors is None:
        return None
    path = Path(request.ivectors)
    if not model.takes_ivectors:
        raise FormatError(f"{path}: i-vectors given, but {model.network_file} has no ivector "
                          f"input; drop --ivectors")
    table = read_online_ivectors(path)
    lacking = [u for u in utt_ids if u not in table]
    if lacking:
        raise FormatError(f"{path}: has no i-vectors for utterance {lacking[0]}"
                          + (f" (and {len(lacking) - 1} more)" if len(lacking) > 1 else "")
                          + f"; its keys must be the utterance ids (e.g. "
                          f"{next(iter(table))!r})")
    dim = model.net.ivector_dim
    wrong = next((u for u in utt_ids if table[u].shape[1] != dim), None)
    if wrong is not None:
        raise FormatError(f"{path}: i-vectors of {wrong} have {table[wrong].shape[1]} dims, "
                          f"{model.network_file} takes {dim}")
    return table
