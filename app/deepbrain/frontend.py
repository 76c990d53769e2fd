"""The front end as data: the Kaldi stages that turn a model's audio into its network's input.

:func:`read_frontend` reads a model dir the way Kaldi's scripts do and returns a
:class:`FrontEnd`, an ordered chain of :class:`Stage` s, each named after the Kaldi binary it
mirrors, with its options and the frames of context it needs. The numpy engine runs the chain
(``deepbrain.chain``), ``kaldi_recipes/getact.sh`` builds the same chain from the same files
in bash, and ``deepbrain info`` prints it (``getact.sh --print-frontend true`` prints the same
lines: :meth:`FrontEnd.describe`).

Two conventions, told apart by ``final.mdl`` (every ``steps/nnet`` dir has one, the original
demo's folder has none):

- **a Kaldi steps/nnet dir** (``final.mdl`` present), as ``steps/nnet/decode.sh`` reads it:
  features from ``conf/fbank.conf`` or ``conf/mfcc.conf`` (required: the config the model was
  trained with), ``apply-cmvn-online`` when ``online_cmvn_opts`` exists (with
  ``global_cmvn_stats.mat``), ``apply-cmvn`` only when ``cmvn_opts`` exists, ``add-deltas``
  when ``delta_opts`` exists;
- **the original demo's layout** (no ``final.mdl``), as its getact.sh: 16 kHz MFCC (13 ceps,
  no energy) unless ``conf/mfcc.conf`` or ``conf/fbank.conf`` says otherwise, means-only CMVN
  per utterance unless ``cmvn_opts`` or ``online_cmvn_opts`` says otherwise, ``add-deltas``
  when ``delta_opts`` exists.

In both, ``final.mat`` adds ``splice-feats`` (``splice_opts``; the seed's ±3, or Kaldi's ±4
in a steps dir) and ``transform-feats``. ``conf/pitch.conf`` appends Kaldi pitch features as
``make_mfcc_pitch.sh`` / ``make_fbank_pitch.sh`` do (``conf/pitch_process.conf``, when
present, is their ``--pitch-postprocess-config``). CMVN of either kind runs over what
``--utt2spk`` makes a speaker (decode.sh's ``--utt2spk`` / ``--spk2utt``), else over each
utterance. Dither is 0 unless a config sets it, so a wav always gives the same numbers.

An option file that is there but is not a regular file (a FIFO, a folder) is an error, never
taken for an absent one: that would silently change the front end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DeepbrainError, ModelError
from .kaldi_formats import read_double_matrix_file, read_matrix_file
from .options import (CmvnOptions, DeltaOptions, FbankOptions, FramedOptions, MfccOptions,
                      OnlineCmvnOptions, SpliceOptions, canonical_args, cmvn_options,
                      delta_options, fbank_options, mfcc_options, online_cmvn_options,
                      present, read_config_file, read_opts_file, splice_options)
from .pitch import (MakePitchOptions, PitchOptions, ProcessPitchOptions, pitch_options,
                    process_pitch_options)

SEED_MFCC_WORDS = ("--dither=0", "--sample-frequency=16000", "--use-energy=false")
"""The seed's MFCC options (kaldi_recipes/conf/mfcc.conf), canonical; = MfccOptions()."""
SEED_CMVN_WORDS = ("--norm-means=true", "--norm-vars=false")
STAGE_NAME_WIDTH = 12


@dataclass(frozen=True, eq=False)
class Stage:
    """One stage of a front end: ``name`` (used everywhere: progress, logs, --keep-intermediate
    tables), the Kaldi ``binary`` it mirrors and its ``options``; ``output`` is the table
    ``--keep-intermediate`` writes it to; ``left``/``right`` the frames of context it needs;
    ``source`` the file(s) it was read from; ``command`` the Kaldi command line it stands
    for, in the canonical form both this module and getact.sh print."""

    name: str
    binary: str
    options: object
    output: str
    dim: int
    left: int = 0
    right: int = 0
    source: str = ""
    command: tuple[str, ...] = ()

    def describe(self) -> str:
        """The stage's Kaldi command (options, no tables): ``binary --name=value ...``,
        options sorted by name, booleans true/false, other values as the file writes them."""
        return " ".join(self.command or (self.binary,))


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
    def pitch(self) -> MakePitchOptions | None:
        s = self.stage("pitch")
        return s.options if s is not None else None

    @property
    def extracted_dim(self) -> int:
        """Frames' dim after extraction (and pitch), what CMVN works on."""
        return (self.stage("pitch") or self.stages[0]).dim

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

    def describe(self, dims: bool = False) -> list[str]:
        """One line a stage: its name, then its Kaldi command (:meth:`Stage.describe`);
        ``getact.sh --print-frontend true`` prints exactly these lines. With ``dims``,
        each line ends with the stage's output dim."""
        return [f"{s.name:<{STAGE_NAME_WIDTH}}{s.describe()}" + (f"  -> {s.dim}" if dims else "")
                for s in self.stages]


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

    def has(path: Path) -> bool:
        return bool(attempt(present, path))

    kaldi_dir = (d / "final.mdl").is_file()
    stages: list[Stage] = []
    extraction = _extraction(d, kaldi_dir, has, attempt, found)
    if extraction is not None:
        stages.append(extraction)
        pitch = _pitch(d, extraction, has, attempt, found)
        if pitch is not None:
            stages.append(pitch)
    if len(found) > before or not stages:
        return _fail(d, found, problems)
    dim = stages[-1].dim
    online, global_stats = _online_cmvn(d, dim, has, attempt, found)
    if online is not None:
        stages.append(online)
    if has(d / "cmvn_opts") and online is not None:
        found.append(f"{d}: has both cmvn_opts and online_cmvn_opts; Kaldi's steps/nnet uses "
                     f"one or the other")
    elif (d / "cmvn_opts").is_file() or (not kaldi_dir and online is None):
        cmvn = _offline_cmvn(d, dim, per_speaker, attempt)
        if cmvn is not None:
            stages.append(cmvn)
    if has(d / "delta_opts"):
        deltas = attempt(_option_stage, d / "delta_opts", read_opts_file, delta_options,
                         DeltaOptions, "add-deltas")
        if deltas is not None:
            opts, command = deltas
            dim *= opts.delta_order + 1
            stages.append(Stage("deltas", "add-deltas", opts, "deltas", dim, opts.context,
                                opts.context, str(d / "delta_opts"), command))
    stages += _splice_transform(d, dim, kaldi_dir, has, attempt, found)
    if len(found) > before:
        return _fail(d, found, problems)
    return FrontEnd(tuple(stages), kaldi_dir, per_speaker, global_stats)


def _fail(d: Path, found: list[str], problems: list[str] | None) -> None:
    if problems is None:
        raise ModelError(f"{d}: " + "; ".join(found))
    return None


def _option_stage(path: Path, reader: Callable, parse: Callable, cls: type, binary: str,
                  added: dict | None = None, *extra):
    """Options from a file, and the canonical command (binary + the file's options)."""
    words = reader(path)
    opts = parse(words, str(path), *extra)
    return opts, (binary, *canonical_args(words, cls, added))


def _extraction(d: Path, kaldi_dir: bool, has, attempt, found: list[str]) -> Stage | None:
    conf = d / "conf"
    mfcc_conf, fbank_conf = conf / "mfcc.conf", conf / "fbank.conf"
    has_mfcc, has_fbank = has(mfcc_conf), has(fbank_conf)
    if has_mfcc and has_fbank:
        found.append(f"{conf}: has both mfcc.conf and fbank.conf; keep the one the model was "
                     f"trained with")
        return None
    for path, has_it, parse, cls, name in ((fbank_conf, has_fbank, fbank_options,
                                            FbankOptions, "fbank"),
                                           (mfcc_conf, has_mfcc, mfcc_options, MfccOptions,
                                            "mfcc")):
        if has_it:
            got = attempt(_option_stage, path, read_config_file, parse, cls, cls.binary,
                          {"dither": "0"})
            if got is None:
                return None
            opts, command = got
            return Stage(name, cls.binary, opts, "feats", opts.dim, source=str(path),
                         command=command)
    if kaldi_dir:
        found.append(f"{conf}: has no mfcc.conf or fbank.conf; copy the feature config the "
                     f"model was trained with (the recipe's conf/mfcc.conf or conf/fbank.conf) "
                     f"into it")
        return None
    opts = MfccOptions()
    return Stage("mfcc", opts.binary, opts, "feats", opts.dim,
                 source="the original demo's getact.sh",
                 command=(opts.binary, *SEED_MFCC_WORDS))


def _pitch(d: Path, extraction: Stage, has, attempt, found: list[str]) -> Stage | None:
    """conf/pitch.conf (+ conf/pitch_process.conf): pitch pasted on the features."""
    conf = d / "conf"
    pitch_conf, process_conf = conf / "pitch.conf", conf / "pitch_process.conf"
    if not has(pitch_conf):
        if has(process_conf):
            found.append(f"{process_conf}: present but there is no conf/pitch.conf; a model "
                         f"with pitch has both (make_mfcc_pitch.sh's --pitch-config)")
        return None
    got = attempt(_option_stage, pitch_conf, read_config_file, pitch_options, PitchOptions,
                  "compute-kaldi-pitch-feats")
    post = (ProcessPitchOptions(), ("process-kaldi-pitch-feats",))
    if has(process_conf):
        post = attempt(_option_stage, process_conf, read_config_file, process_pitch_options,
                       ProcessPitchOptions, "process-kaldi-pitch-feats")
    if got is None or post is None:
        return None
    (pitch, pitch_cmd), (process, process_cmd) = got, post
    feats = extraction.options
    if pitch.sample_frequency != feats.sample_frequency or \
            pitch.frame_shift != feats.frame_shift:
        found.append(f"{pitch_conf}: --sample-frequency={pitch.sample_frequency:g} "
                     f"--frame-shift={pitch.frame_shift:g}, but {extraction.source} says "
                     f"{feats.sample_frequency:g} and {feats.frame_shift:g}; paste-feats needs "
                     f"both from the same audio at the same frame rate: use the pitch.conf the "
                     f"model was trained with")
        return None
    opts = MakePitchOptions(pitch, process)
    sources = str(pitch_conf) + (f" + {process_conf}" if process_conf.is_file() else "")
    command = (*pitch_cmd, "|", *process_cmd, "|", "paste-feats",
               f"--length-tolerance={opts.length_tolerance}")
    return Stage("pitch", "compute-kaldi-pitch-feats", opts, "feats",
                 extraction.dim + opts.dim, source=sources, command=command)


def _online_cmvn(d: Path, dim: int, has, attempt, found: list[str]):
    if not has(d / "online_cmvn_opts"):
        return None, None
    got = attempt(_option_stage, d / "online_cmvn_opts", read_opts_file, online_cmvn_options,
                  OnlineCmvnOptions, "apply-cmvn-online")
    stats_file = d / "global_cmvn_stats.mat"
    global_stats = None
    if not has(stats_file):
        found.append(f"{stats_file}: missing (online_cmvn_opts asks for apply-cmvn-online, "
                     f"which starts from these global statistics)")
    else:
        global_stats = attempt(_read_global_stats, stats_file, dim)
    if got is None:
        return None, None
    opts, command = got
    return Stage("online-cmvn", "apply-cmvn-online", opts, "cmvn_feats", dim,
                 source=str(d / "online_cmvn_opts"),
                 command=(*command, "global_cmvn_stats.mat")), global_stats


def _offline_cmvn(d: Path, dim: int, per_speaker: bool, attempt) -> Stage | None:
    path = d / "cmvn_opts"
    if path.is_file():
        got = attempt(_option_stage, path, read_opts_file, cmvn_options, CmvnOptions,
                      "apply-cmvn", None, per_speaker)
        if got is None:
            return None
        opts, command = got
        source = str(path)
    else:
        opts, command = CmvnOptions(per_speaker=per_speaker), ("apply-cmvn", *SEED_CMVN_WORDS)
        source = "the original demo's getact.sh"
    if not opts.norm_means:  # apply-cmvn --norm-means=false leaves the features as they are
        return None
    return Stage("cmvn", "apply-cmvn", opts, "cmvn_feats", dim, source=source, command=command)


def _splice_transform(d: Path, dim: int, kaldi_dir: bool, has, attempt,
                      found: list[str]) -> list[Stage]:
    has_mat, has_splice = has(d / "final.mat"), has(d / "splice_opts")
    if has_splice and not has_mat:
        found.append(f"{d / 'splice_opts'}: present but there is no final.mat to apply after "
                     f"splicing")
    if not has_mat:
        return []
    mat = attempt(read_matrix_file, d / "final.mat", "the LDA transform")
    if has_splice:
        got = attempt(_option_stage, d / "splice_opts", read_opts_file, splice_options,
                      SpliceOptions, "splice-feats")
        if got is None:
            return []
        splice = got[0]
    else:  # the layout's own default
        splice = SpliceOptions(4, 4) if kaldi_dir else SpliceOptions()
        got = (splice, ("splice-feats",))
    command = (got[1][0], *canonical_args(list(got[1][1:]), SpliceOptions,
                                          {"left-context": splice.left_context,
                                           "right-context": splice.right_context}))
    spliced = dim * len(splice.offsets)
    stages = [Stage("splice", "splice-feats", splice, "spliced", spliced, splice.left_context,
                    splice.right_context, str(d / "splice_opts") if has_splice else
                    "the layout's default", command)]
    if mat is None:
        return []
    if mat.shape[1] not in (spliced, spliced + 1):
        found.append(f"{d / 'final.mat'}: is {mat.shape[0]} x {mat.shape[1]}, but "
                     f"{dim}-dim features spliced {splice.left_context}/"
                     f"{splice.right_context} give {spliced} dims (it needs {spliced} "
                     f"or {spliced + 1} columns)")
    stages.append(Stage("transform", "transform-feats", mat, "transformed", mat.shape[0],
                        source=str(d / "final.mat"), command=("transform-feats", "final.mat")))
    return stages


def _read_global_stats(path: Path, dim: int) -> np.ndarray:
    stats = read_double_matrix_file(path, "global CMVN statistics")
    if stats.shape != (2, dim + 1) or not stats[0, dim] > 0:
        raise ModelError(f"{path}: expected CMVN statistics of {dim}-dim features (2 x "
                         f"{dim + 1}, a frame count above 0), found {stats.shape[0]} x "
                         f"{stats.shape[1]}; write them with matrix-sum over cmvn.scp")
    return stats
