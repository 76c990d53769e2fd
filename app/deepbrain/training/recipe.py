"""The whole recipe: corpus -> features -> LDA -> feature transform -> training -> model dir.

:func:`make_model` is what ``make demo-model`` runs (through ``scripts/make_demo_model.py``)
and what the smoke test runs on a handful of utterances. Every step is seeded; the corpus
is made in ``work_dir`` (reused when it is already there with the same seed and size), the
model dir is built beside ``out_dir`` and moved into place at the end.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..corpus.voices import RECIPE as VOICES_RECIPE
from ..features import transform_feats
from ..model import load_model
from ..nnet1 import Nnet
from ..options import CmvnOptions
from ..pipeline import CancelHook, ProgressHook, check_cancel, read_wav_scp
from .errors import TrainingError
from .evaluation import (Evaluation, all_labels, read_labels, run_test, split_sample,
                         with_network)
from .frames import FrameSet, FrontEnd, read_split
from .modeldir import (Example, build_dir, check_replaceable, dir_sizes, install,
                       write_examples, write_model_files)
from .selectivity import LayerSelectivity, phone_selectivity, sample_frames
from .trainer import EpochReport, SplicedInput, TrainConfig, initial_network, train
from .transforms import STATES, Lda, acc_lda, est_lda, frame_classes, make_feature_transform


CORPORA = ("voices", "espeak")
_RECIPES = {"voices": VOICES_RECIPE, "espeak": None}  # corpus.json's "recipe" of each kind


@dataclass(frozen=True)
class RecipeConfig:
    """What to make. The defaults are the shipped demo model's.

    ``corpus``: ``voices`` (espeak-ng, Festival and Flite voices, augmented:
    :mod:`deepbrain.corpus.voices`) or ``espeak`` (espeak-ng alone, clean: the first demo
    model's). ``norm_vars``: per-utterance CMVN normalises variances too (what a model
    that meets many microphones wants; the first demo model normalised means only)."""

    utts: int = 4400
    seed: int = 0
    workers: int = 2
    corpus: str = "voices"
    norm_vars: bool = True
    lda_dim: int = 40
    context: int = 5           # the feature transform's splice: -5..5
    valid_share: float = 0.05  # of the train utterances, for the learning-rate schedule
    copies: int = 4            # per train utterance: the original and copies - 1 perturbed
    train: TrainConfig = TrainConfig(epochs=12, backend="torch", dropout=0.2)
    examples: int = 4          # one per held-out voice
    example_seconds: float = 3.0
    per_phone: int = 100       # frames per phone for the selectivity test
    alpha: float = 0.01


@dataclass(frozen=True)
class CorpusInfo:
    """What ``corpus.json`` says about the corpus the model was trained on."""

    seed: int
    utterances: Mapping[str, int]
    audio_seconds: float
    held_out_voices: tuple[str, ...]
    voices: tuple[str, ...]
    espeak_ng_version: str
    text_source: str
    kind: str = "espeak"
    raw: Mapping = field(default_factory=dict)  # the whole corpus.json

    @classmethod
    def read(cls, corpus: Path) -> "CorpusInfo":
        info = json.loads((corpus / "corpus.json").read_text())
        return cls(info["seed"], info["utterances"], info["audio_seconds"],
                   tuple(info["held_out_voices"]), tuple(info["variants"]),
                   info["espeak_ng_version"], info["text_source"],
                   info.get("kind", "espeak"), info)


@dataclass(frozen=True, eq=False)
class RecipeResult:
    """What :func:`make_model` made and measured (what the model's README reports)."""

    model_dir: Path
    config: RecipeConfig
    corpus: CorpusInfo
    frames: Mapping[str, tuple[int, int]]  # split -> (utterances, frames)
    num_phones: int
    lda: Lda
    lda_classes: int
    epochs: tuple[EpochReport, ...]
    test: Evaluation
    selectivity: tuple[LayerSelectivity, ...]
    untrained_selectivity: tuple[LayerSelectivity, ...]
    examples: tuple[Example, ...]
    sizes: Mapping[str, int]
    seconds: Mapping[str, float] = field(default_factory=dict)
    kept_maps: bool = False


def make_model(out_dir: str | Path, work_dir: str | Path, config: RecipeConfig = RecipeConfig(),
               progress: ProgressHook | None = None, cancel: CancelHook | None = None,
               on_epoch: Callable[[EpochReport], None] | None = None,
               readme: Callable[[RecipeResult], str] | None = None) -> RecipeResult:
    """Make the corpus, train, write and test the model dir ``out_dir``; ``readme`` renders
    its README.md from the result (none is written without it)."""
    out_dir, work_dir = Path(out_dir).absolute(), Path(work_dir).absolute()
    check_replaceable(out_dir)
    clock = _Clock()
    corpus = _corpus(work_dir / "corpus", config, progress, cancel)
    clock.lap("corpus")
    phones_txt = (corpus / "phones.txt").read_text()
    phones = [line.split()[0] for line in phones_txt.splitlines() if line.strip()]
    front_end = FrontEnd(cmvn=CmvnOptions(norm_vars=config.norm_vars))
    frames = read_split(corpus / "train", front_end, progress, cancel, copies=config.copies,
                        seed=config.seed, sil=phones.index("sil"), workers=config.workers)
    clock.lap("features")
    lda, lda_classes, frames, feature_transform = _transforms(frames, len(phones), config)
    train_set, valid_set = _split_valid(frames, config)
    clock.lap("lda")
    check_cancel(cancel)
    mlp, epochs = _trainer(config.train)(SplicedInput(train_set, feature_transform),
                                         SplicedInput(valid_set, feature_transform),
                                         len(phones), config.train, on_epoch, progress, cancel)
    clock.lap("train")
    build = build_dir(out_dir)
    try:
        write_model_files(build, mlp.to_nnet(), feature_transform, lda.matrix,
                          np.bincount(frames.labels, minlength=len(phones)), phones_txt,
                          front_end)
        test, selectivity, control, examples = _test(build, corpus, phones, config, progress,
                                                     cancel)
        clock.lap("test")
        res = RecipeResult(
            out_dir, config, CorpusInfo.read(corpus),
            {"train": _originals(train_set), "train_all": (len(train_set.utt_ids),
                                                           train_set.num_frames),
             "valid": (len(valid_set.utt_ids), valid_set.num_frames),
             "test": (len(test.per_utt), test.frames)},
            len(phones), lda, lda_classes, epochs, test, selectivity, control, examples, {},
            dict(clock.seconds))
        if readme is not None:
            (build / "README.md").write_text(readme(replace(res, sizes=dir_sizes(build))))
        sizes = dir_sizes(build)
        kept = install(build, out_dir)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return replace(res, sizes=sizes, kept_maps=kept)


def _trainer(config: TrainConfig) -> Callable:
    """The numpy trainer, or the torch one (the train extra) with the same interface."""
    if config.backend == "torch":
        from .torchtrain import train as train_torch
        return train_torch
    return train


def _originals(frames: FrameSet) -> tuple[int, int]:
    """Utterances and frames of ``frames`` without the perturbed copies."""
    keep = frames.copy_numbers == 0
    return int(keep.sum()), int(np.diff(frames.starts)[keep].sum())


def _transforms(frames: FrameSet, num_phones: int, config: RecipeConfig
                ) -> tuple[Lda, int, FrameSet, Nnet]:
    """The LDA (and how many classes it saw), the frames through it, the feature transform."""
    classes = frame_classes(frames, num_phones)
    lda = est_lda(acc_lda(frames.feats, classes, num_phones * STATES), config.lda_dim)
    frames = frames.map_utterances(lambda u: transform_feats(u, lda.matrix))
    return lda, int(np.unique(classes).size), frames, make_feature_transform(frames,
                                                                             config.context)


def _test(model_dir: Path, corpus: Path, phones: list[str], config: RecipeConfig,
          progress: ProgressHook | None, cancel: CancelHook | None):
    """The written model on the test split: accuracy, selectivity (trained and untrained);
    the examples chosen and written into the model dir."""
    model = load_model(model_dir)
    test_dir, sil = corpus / "test", phones.index("sil")
    sample, labels = split_sample(test_dir, sample_frames(all_labels(test_dir),
                                                          config.per_phone, config.seed))
    test, layers = run_test(model, test_dir, sample, sil, progress, cancel)
    examples = _choose_examples(corpus, test, config)
    write_examples(model_dir, examples, _wavs(test_dir), read_labels(test_dir))
    untrained = initial_network(model.nnet.input_dim, len(phones), config.train).to_nnet()
    _, control = run_test(with_network(model, untrained), test_dir, sample, sil, cancel=cancel)
    return (test, phone_selectivity(layers, labels, config.alpha),
            phone_selectivity(control, labels, config.alpha), examples)


class _Clock:
    """Seconds per named step."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = now - self._last
        self._last = now


def _corpus(corpus: Path, config: RecipeConfig, progress, cancel) -> Path:
    """The corpus in ``corpus``: reused when corpus.json says it is this kind, seed and
    size."""
    from ..corpus import make_corpus
    from ..corpus.voices import make_voices_corpus

    if config.corpus not in CORPORA:
        raise TrainingError(f"unknown corpus kind {config.corpus!r}; choose from "
                            f"{', '.join(CORPORA)}")
    info = corpus / "corpus.json"
    if info.is_file():
        made = json.loads(info.read_text())
        requested = made.get("requested", sum(made.get("utterances", {}).values()))
        if made.get("seed") == config.seed and made.get("kind", "espeak") == config.corpus \
                and requested == config.utts and made.get("recipe") == _RECIPES[config.corpus]:
            return corpus
    make = make_voices_corpus if config.corpus == "voices" else make_corpus
    make(corpus, config.utts, config.seed, workers=config.workers, progress=progress,
         cancel=cancel, force=True)
    return corpus


def _split_valid(frames: FrameSet, config: RecipeConfig) -> tuple[FrameSet, FrameSet]:
    """A seeded share of the train utterances (same voices) for validation: their
    originals validate, none of their copies trains."""
    first = np.flatnonzero(frames.copy_numbers == 0)
    n = first.size
    if n < 2:
        raise TrainingError(f"{n} train utterance(s): need at least 2 (train and validation); "
                            f"make a bigger corpus")
    ends = np.append(first[1:], len(frames.utt_ids))
    order = np.random.default_rng([config.seed, 1]).permutation(n)
    n_valid = min(n - 1, max(1, int(round(config.valid_share * n))))
    train = [j for u in sorted(order[n_valid:]) for j in range(first[u], ends[u])]
    return frames.subset(train), frames.subset(sorted(first[order[:n_valid]]))


def _wavs(data_dir: Path) -> dict[str, Path]:
    return {u.utt_id: u.path for u in read_wav_scp(data_dir / "wav.scp")}


def _choose_examples(corpus: Path, evaluation: Evaluation,
                     config: RecipeConfig) -> tuple[Example, ...]:
    """Per held-out voice (alphabetical), the test utterance closest to
    ``example_seconds`` long (ties: the first utt_id); up to ``config.examples``."""
    texts = dict(line.split(" ", 1) for line in
                 (corpus / "test" / "text").read_text().splitlines())
    chosen = []
    for voice in sorted(set(evaluation.voices.values())):
        utts = sorted(u for u, v in evaluation.voices.items() if v == voice)
        seconds = {u: (evaluation.per_utt[u][0] - 1) * 0.01 + 0.025 for u in utts}
        best = min(utts, key=lambda u: (abs(seconds[u] - config.example_seconds), u))
        chosen.append(Example(best, voice, round(seconds[best], 2), texts[best]))
    return tuple(chosen[:config.examples])
