"""The embedded engine: Kaldi's stages in numpy, no Kaldi needed.

All utterances' MFCCs are computed first (they are small), so that per-speaker CMVN
statistics are complete before any utterance is normalised; the rest runs one utterance at
a time, so memory holds one utterance's activations at once.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..audio import load_for_model
from ..features import (apply_cmvn, compute_cmvn_stats, compute_mfcc_feats, splice_feats,
                        transform_feats)
from ..model import Model
from ..artefacts import (Activations, CancelHook, Progress, ProgressHook, Request, Stages,
                        Utterance, check_cancel, first_nonfinite, freeze_layers,
                        nonfinite_error)

NAME = "numpy"


def run(utts: Sequence[Utterance], model: Model, request: Request,
        progress: ProgressHook | None = None, cancel: CancelHook | None = None
        ) -> Iterator[Activations]:
    report = progress or (lambda p: None)
    total = len(utts)
    feats = {}
    for i, utt in enumerate(utts):
        check_cancel(cancel)
        audio = load_for_model(utt.path, model.sample_rate, request.channel, request.resample)
        feats[utt.utt_id] = compute_mfcc_feats(audio, model.mfcc)
        bad = first_nonfinite([("feats", feats[utt.utt_id])])
        if bad is not None:  # before CMVN statistics mix it into other utterances
            raise nonfinite_error(utt.utt_id, *bad, model.path)
        report(Progress("mfcc", i + 1, total, utt.utt_id))
    stats = _cmvn_stats(utts, feats, model)
    for i, utt in enumerate(utts):
        check_cancel(cancel)
        yield _forward_one(utt, feats.pop(utt.utt_id), stats[utt.speaker if model.cmvn.per_speaker
                                                            else utt.utt_id],
                           model, request, report, i, total)


def _cmvn_stats(utts, feats, model: Model) -> dict:
    if not model.cmvn.per_speaker:
        return {u.utt_id: compute_cmvn_stats(feats[u.utt_id]) for u in utts}
    by_speaker: dict[str, list] = {}
    for u in utts:
        by_speaker.setdefault(u.speaker, []).append(feats[u.utt_id])
    return {spk: compute_cmvn_stats(mats) for spk, mats in by_speaker.items()}


def _forward_one(utt: Utterance, feats, stats, model: Model, request: Request, report,
                 i: int, total: int) -> Activations:
    # Overflow (a model's huge weights or options) is not warned about here but checked in
    # the results, so that the error names the first stage that gave NaN or inf.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _forward_checked(utt, feats, stats, model, request, report, i, total)


def _forward_checked(utt: Utterance, feats, stats, model: Model, request: Request, report,
                     i: int, total: int) -> Activations:
    cmvn_feats = apply_cmvn(feats, stats, model.cmvn)
    report(Progress("cmvn", i + 1, total, utt.utt_id))
    spliced = transformed = None
    x = cmvn_feats
    if model.transform is not None:
        spliced = splice_feats(x, model.splice.left_context, model.splice.right_context)
        report(Progress("splice", i + 1, total, utt.utt_id))
        x = transformed = transform_feats(spliced, model.transform, str(model.path / "final.mat"))
        report(Progress("transform", i + 1, total, utt.utt_id))
    nnet_input = model.feature_transform.propagate(x) if model.feature_transform else x
    layers, output = model.nnet.propagate_layers(nnet_input, request.layers, request.output)
    bad = first_nonfinite([("feats", feats), ("cmvn_feats", cmvn_feats), ("spliced", spliced),
                           ("transformed", transformed), ("nnet_input", nnet_input),
                           *((f"layer{k}", m) for k, m in sorted(layers.items())),
                           ("output", output)])
    if bad is not None:
        raise nonfinite_error(utt.utt_id, *bad, model.path)
    report(Progress("forward", i + 1, total, utt.utt_id))
    stages = Stages([("feats", feats), ("cmvn", stats), ("cmvn_feats", cmvn_feats),
                     ("spliced", spliced), ("transformed", transformed),
                     ("nnet_input", nnet_input)]) if request.keep_intermediate else None
    return Activations(utt.utt_id, freeze_layers(layers), output, model.frame_shift, NAME, stages)
