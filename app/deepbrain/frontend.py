"""The front end as data: the Kaldi stages that turn a model's audio into its network's input.

:func:`read_frontend` reads a model dir the way Kaldi's scripts do and returns a
:class:`FrontEnd`, an ordered chain of :class:`Stage` s, each named after the Kaldi binary it
mirrors, with its options and the frames of context it needs. The numpy engine runs the chain
(``deepbrain.chain``), ``kaldi_recipes/getact.sh`` builds the same chain from the same files
in bash, and ``deepbrain info`` prints it.

Two conventions, told apart by ``final.mdl`` (every ``steps/nnet`` dir has one, the original
demo's folder has none):

- **a Kaldi steps/nnet dir** (``final.mdl`` present), as ``steps/nnet/decode.sh`` reads it:
  features from ``conf/fbank.conf`` or ``conf/mfcc.conf`` (required: the config the model was
  trained with), ``apply-cmvn-online`` when ``online_cmvn_opts`` exists (with
  ``global_cmvn_stats.mat``), ``apply-cmvn`` only when ``cmvn_opts`` exists, ``add-deltas``
  when ``delta_opts`` exists;
- **the original demo's layout** (no ``final.mdl``), as its getact.sh: 16 kHz MFCC (13 ceps,
  no energy) unless ``conf/mfcc.conf`` or ``conf/fbank.conf`` says otherwise, means-only CMVN
  per utterance unless ``cmvn_opts`` says otherwise, ``add-deltas`` when ``delta_opts``
  exists.

In both, ``final.mat`` adds ``splice-feats`` (``splice_opts``; the seed's ±3, or Kaldi's ±4
in a steps dir) and ``transform-feats``. ``conf/pitch.conf`` appends Kaldi pitch features as
``make_mfcc_pitch.sh`` does. Dither is 0 unless a config sets it, so a wav always gives the
same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DeepbrainError, ModelError
from .kaldi_formats import read_matrix_file
from .options import (CmvnOptions, DeltaOptions, FramedOptions, MfccOptions,
                      OnlineCmvnOptions, SpliceOptions, load_cmvn_options, load_delta_options,
                      load_fbank_options, load_mfcc_options, load_online_cmvn_options,
                      load_splice_options)


@dataclass(frozen=True, eq=False)
class Stage:
    """One stage of a front end: ``name`` (used everywhere: progress, logs, --keep-intermediate
    tables), the Kaldi ``binary`` it mirrors and its ``options``; ``output`` is the table
    ``--keep-intermediate`` writes it to; ``left``/``right`` the frames of context it needs;
    ``source`` the file(s) it was read from."""

    name: str
    binary: str
    options: object
    output: str
    dim: int
    left: int = 0
    right: int = 0
    source: str = ""

    def describe(self) -> str:
        """The stage as a Kaldi command line would run it (options only, no tables)."""
        return f"{self.binary} {' '.join(_args(self))}".strip()


def _args(stage: Stage) -> list[str]:
    o = stage.options
    if isinstance(o, FramedOptions):
        return [a for a in o.to_kaldi() if a in _changed(o)]
    if isinstance(o, CmvnOptions):
        return [f"--norm-means={str(o.norm_means).lower()}",
                f"--norm-vars={str(o.norm_vars).lower()}"] + \
            (["(statistics per speaker)"] if o.per_speaker else ["(statistics per utterance)"])
    if isinstance(o, OnlineCmvnOptions):
        return [f"--cmn-window={o.cmn_window}", f"--speaker-frames={o.speaker_frames}",
                f"--global-frames={o.global_frames}", f"--norm-means={str(o.norm_means).lower()}",
                f"--norm-vars={str(o.norm_vars).lower()}"] + \
            ([f"--skip-dims={o.skip_dims}"] if o.skip_dims else []) + ["global_cmvn_stats.mat"]
    if isinstance(o, DeltaOptions):
        return [f"--delta-order={o.delta_order}", f"--delta-window={o.delta_window}"]
    if isinstance(o, SpliceOptions):
        return [f"--left-context={o.left_context}", f"--right-context={o.right_context}"]
    if isinstance(o, np.ndarray):
        return [f"final.mat ({o.shape[0]} x {o.shape[1]})"]
    return []


def _changed(o: FramedOptions) -> set[str]:
    """The options that differ from Kaldi's own defaults (what a config file must say)."""
    kaldi = type(o)(use_energy=isinstance(o, MfccOptions), dither=1.0)
    return {a for a, b in zip(o.to_kaldi(), kaldi.to_kaldi()) if a != b}


@dataclass(frozen=True, eq=False)
class FrontEnd:
    """The stages in order. ``features`` is the extraction (mfcc or fbank, then pitch
    pasted on); the other stages work on its frames."""

    stages: tuple[Stage, ...]
    kaldi_dir: bool = False
    per_speaker: bool = False   # CMVN statistics over a speaker's utterances (--utt2spk)
    global_cmvn_stats: np.ndarray | None = field(default=None, repr=False)

    @property
    def features(self) -> FramedOptions:
        return self.stages[0].options

    @property
    def sample_rate(self) -> int:
        return int(self.features.sample_frequency)

    @property
    def frame_shift(self) -> float:
        """Seconds between frames."""
        return self.features.frame_shift / 1000.0

    @property
    def frame_length(self) -> float:
        return self.features.frame_length / 1000.0

    @property
    def dim(self) -> int:
        return self.stages[-1].dim

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    @property
    def cmvn(self) -> CmvnOptions | None:
        """apply-cmvn's options when the chain has offline CMVN (which needs statistics over
        the whole utterance or speaker first)."""
        s = self.stage("cmvn")
        return s.options if s is not None else None

    @property
    def context(self) -> tuple[int, int]:
        """Frames of extracted features needed before and after a frame of output."""
        return sum(s.left for s in self.stages), sum(s.right for s in self.stages)

    def describe(self) -> list[str]:
        return [f"{s.name:<12}{s.describe()}" for s in self.stages]


def read_frontend(d: Path, per_speaker: bool = False,
                  problems: list[str] | None = None) -> FrontEnd | None:
    """The front end a model dir asks for. Problems are appended to ``problems`` (all of
    them, for one message) and None returned; without a list they are raised."""
    found: list[str] = [] if problems is None else problems
    before = len(found)

    def attempt(fn: Callable, *args):
        try:
            return fn(*args)
        except DeepbrainError as e:
            found.append(str(e))
            return None

    kaldi_dir = (d / "final.mdl").is_file()
    conf = d / "conf"
    stages: list[Stage] = []
    mfcc_conf, fbank_conf = conf / "mfcc.conf", conf / "fbank.conf"
    if mfcc_conf.is_file() and fbank_conf.is_file():
        found.append(f"{conf}: has both mfcc.conf and fbank.conf; keep the one the model was "
                     f"trained with")
    elif fbank_conf.is_file():
        opts = attempt(load_fbank_options, fbank_conf)
        if opts is not None:
            stages.append(Stage("fbank", "compute-fbank-feats", opts, "feats", opts.dim,
                                source=str(fbank_conf)))
    elif mfcc_conf.is_file() or not kaldi_dir:
        opts = attempt(load_mfcc_options, mfcc_conf if mfcc_conf.is_file() else None)
        if opts is not None:
            stages.append(Stage("mfcc", "compute-mfcc-feats", opts, "feats", opts.dim,
                                source=str(mfcc_conf) if mfcc_conf.is_file() else
                                "the original demo's getact.sh"))
    else:
        found.append(f"{conf}: has no mfcc.conf or fbank.conf; copy the feature config the "
                     f"model was trained with (the recipe's conf/mfcc.conf or conf/fbank.conf) "
                     f"into it")
    if (conf / "pitch.conf").is_file():
        found.append(f"{conf / 'pitch.conf'}: pitch features are not supported yet; remove it "
                     f"only if the model was trained without pitch")
    if len(found) > before or not stages:
        if problems is None:
            raise ModelError(f"{d}: " + "; ".join(found))
        return None
    dim = stages[-1].dim
    online = attempt(load_online_cmvn_options, d / "online_cmvn_opts") \
        if (d / "online_cmvn_opts").is_file() else None
    global_stats = None
    if online is not None:
        stats_file = d / "global_cmvn_stats.mat"
        if not stats_file.is_file():
            found.append(f"{stats_file}: missing (online_cmvn_opts asks for apply-cmvn-online, "
                         f"which starts from these global statistics)")
        else:
            global_stats = attempt(_read_global_stats, stats_file, dim)
        stages.append(Stage("online-cmvn", "apply-cmvn-online", online, "cmvn_feats", dim,
                            source=str(d / "online_cmvn_opts")))
    has_cmvn_opts = (d / "cmvn_opts").is_file()
    if has_cmvn_opts and online is not None:
        found.append(f"{d}: has both cmvn_opts and online_cmvn_opts; Kaldi's steps/nnet uses "
                     f"one or the other")
    elif has_cmvn_opts or (not kaldi_dir and online is None):
        cmvn = attempt(load_cmvn_options, d / "cmvn_opts" if has_cmvn_opts else None,
                       per_speaker)
        if cmvn is not None and cmvn.norm_means:
            stages.append(Stage("cmvn", "apply-cmvn", cmvn, "cmvn_feats", dim,
                                source=str(d / "cmvn_opts") if has_cmvn_opts else
                                "the original demo's getact.sh"))
    if (d / "delta_opts").is_file():
        deltas = attempt(load_delta_options, d / "delta_opts")
        if deltas is not None:
            dim *= deltas.delta_order + 1
            stages.append(Stage("deltas", "add-deltas", deltas, "deltas", dim, deltas.context,
                                deltas.context, source=str(d / "delta_opts")))
    mat = attempt(read_matrix_file, d / "final.mat", "the LDA transform") \
        if (d / "final.mat").is_file() else None
    if (d / "splice_opts").is_file() and not (d / "final.mat").is_file():
        found.append(f"{d / 'splice_opts'}: present but there is no final.mat to apply after "
                     f"splicing")
    if mat is not None:
        splice = attempt(load_splice_options, d / "splice_opts" if
                         (d / "splice_opts").is_file() else None, kaldi_dir)
        if splice is not None:
            spliced = dim * len(splice.offsets)
            stages.append(Stage("splice", "splice-feats", splice, "spliced", spliced,
                                splice.left_context, splice.right_context,
                                source=str(d / "splice_opts")))
            if mat.shape[1] not in (spliced, spliced + 1):
                found.append(f"{d / 'final.mat'}: is {mat.shape[0]} x {mat.shape[1]}, but "
                             f"{dim}-dim features spliced {splice.left_context}/"
                             f"{splice.right_context} give {spliced} dims (it needs {spliced} "
                             f"or {spliced + 1} columns)")
            stages.append(Stage("transform", "transform-feats", mat, "transformed",
                                mat.shape[0], source=str(d / "final.mat")))
    if len(found) > before:
        if problems is None:
            raise ModelError(f"{d}: " + "; ".join(found))
        return None
    return FrontEnd(tuple(stages), kaldi_dir, per_speaker, global_stats)


def _read_global_stats(path: Path, dim: int) -> np.ndarray:
    stats = read_matrix_file(path, "global CMVN statistics")
    if stats.shape != (2, dim + 1) or not stats[0, dim] > 0:
        raise ModelError(f"{path}: expected CMVN statistics of {dim}-dim features (2 x "
                         f"{dim + 1}, a frame count above 0), found {stats.shape[0]} x "
                         f"{stats.shape[1]}; write them with matrix-sum over cmvn.scp")
    return stats.astype(np.float64)

