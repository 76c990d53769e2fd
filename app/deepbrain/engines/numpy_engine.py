"""The embedded engine: Kaldi's stages in numpy, no Kaldi needed, in flat memory.

Utterances go by CMVN group (one utterance, or a speaker's utterances with per-speaker
statistics): the group's audio is read in pieces through feature extraction (pitch, and
apply-cmvn-online), their statistics summed, then each utterance's frames are computed a chunk
at a time (:mod:`deepbrain.chain`) and streamed out. Memory holds one group's features and one
chunk's activations, whatever the length of the audio (with pitch, also one utterance's
samples while its pitch is computed: see ``chain._pitch``).
"""

from __future__ import annotations

from typing import Iterator, Sequence


from ..artefacts import (Activations, CancelHook, Chunk, Progress, ProgressHook, Request,
                         Utterance, check_cancel, collect)
from ..audio import open_for_model
from ..chain import Extracted, UtteranceComputer, extract
from ..features import compute_cmvn_stats
from ..model import Model
from ..pitch import GlibcRand

NAME = "numpy"
CHUNK_FRAMES = 2000  # 20 s of frames a chunk: activations of 2048 units take 16 MB


def run(utts: Sequence[Utterance], model: Model, request: Request,
        progress: ProgressHook | None = None, cancel: CancelHook | None = None
        ) -> Iterator[Activations]:
    """Whole utterances (what the window and the training code use)."""
    return collect(stream(utts, model, request, progress, cancel), model.frame_shift, NAME,
                   request.keep_intermediate)


def stream(utts: Sequence[Utterance], model: Model, request: Request,
           progress: ProgressHook | None = None, cancel: CancelHook | None = None,
           chunk_frames: int = CHUNK_FRAMES) -> Iterator[Chunk]:
    """Every utterance's frames as chunks, in order (nnet3 models: :mod:`.numpy_nnet3`)."""
    if model.kind == "nnet3":
        from . import numpy_nnet3

        return numpy_nnet3.stream(utts, model, request, progress, cancel, chunk_frames)
    return _stream_nnet1(utts, model, request, progress, cancel, chunk_frames)


def _stream_nnet1(utts: Sequence[Utterance], model: Model, request: Request,
                  progress: ProgressHook | None, cancel: CancelHook | None,
                  chunk_frames: int) -> Iterator[Chunk]:
    report = progress or (lambda p: None)
    total = len(utts)
    done = 0
    extraction = model.frontend.stages[0].name
    # One process-kaldi-pitch-feats run over all utterances, in order (as getact.sh runs it).
    pitch = model.frontend.pitch
    rand = GlibcRand(pitch.process.srand) if pitch is not None else None
    for group in _groups(utts, model):
        extracted: list[Extracted] = []
        speaker_stats = None
        for utt in group:
            check_cancel(cancel)
            e = _extract(utt, model, request, speaker_stats, rand)
            if model.frontend.stage("online-cmvn") is not None and model.per_speaker:
                mine = compute_cmvn_stats(e.feats)  # what OnlineCmvn::GetState adds
                speaker_stats = mine if speaker_stats is None else speaker_stats + mine
            extracted.append(e)
            report(Progress(extraction, done + len(extracted), total, utt.utt_id))
        # Offline CMVN statistics: the utterance's own, or the speaker's (the whole group).
        stats = compute_cmvn_stats([e.feats for e in extracted]) \
            if model.cmvn is not None else None
        while extracted:
            e = extracted.pop(0)
            computer = UtteranceComputer(model, e, stats, request.layers, request.output,
                                         request.keep_intermediate)
            for chunk in computer.chunks(chunk_frames):
                check_cancel(cancel)
                yield chunk
            done += 1
            report(Progress("forward", done, total, e.utt_id))


def _groups(utts: Sequence[Utterance], model: Model) -> list[list[Utterance]]:
    """Utterances that share statistics: a speaker's with --utt2spk, else one each."""
    if not model.per_speaker:
        return [[u] for u in utts]
    groups: dict[str, list[Utterance]] = {}
    for u in utts:
        groups.setdefault(u.speaker, []).append(u)
    return list(groups.values())


def _extract(utt: Utterance, model: Model, request: Request, speaker_stats,
             rand: GlibcRand | None) -> Extracted:
    with open_for_model(utt.path, model.sample_rate, request.channel, request.resample) as src:
        return extract(utt.utt_id, src.pieces(), src.num_samples, src.source, src.sample_rate,
                       model, speaker_stats, rand)

