"""Kaldi option files: ``conf/mfcc.conf``, ``cmvn_opts``, ``splice_opts``.

Parsed as Kaldi's ``ParseOptions`` does (``--name=value``, ``_`` same as ``-``, booleans
``true/false/t/f/1/0``, ``#`` comments in config files); an option Kaldi would reject is an
error naming the file. This module is the one source of truth for the front-end defaults:
where a model directory has no option file, the seed system's getact.sh values apply
(16 kHz, no energy, means-only CMVN per utterance, splice +-3), with dither 0.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import FormatError


@dataclass(frozen=True)
class MfccOptions:
    """compute-mfcc-feats options. Defaults are Kaldi's, except the seed's three
    (sample-frequency 16000, use-energy false) and dither 0 (Kaldi: 1) for repeatable output."""

    sample_frequency: float = 16000.0
    frame_length: float = 25.0
    frame_shift: float = 10.0
    dither: float = 0.0
    preemphasis_coefficient: float = 0.97
    remove_dc_offset: bool = True
    window_type: str = "povey"
    round_to_power_of_two: bool = True
    blackman_coeff: float = 0.42
    snip_edges: bool = True
    num_mel_bins: int = 23
    low_freq: float = 20.0
    high_freq: float = 0.0
    vtln_low: float = 100.0
    vtln_high: float = -500.0
    num_ceps: int = 13
    use_energy: bool = False
    energy_floor: float = 0.0
    raw_energy: bool = True
    cepstral_lifter: float = 22.0
    htk_compat: bool = False
    subtract_mean: bool = False
    vtln_warp: float = 1.0

    def __post_init__(self):
        if self.window_type not in ("povey", "hamming", "hanning", "rectangular", "sine",
                                    "blackman"):
            raise ValueError(f"window-type {self.window_type!r} is not one Kaldi knows")
        if self.vtln_warp != 1.0:
            raise ValueError("vtln-warp other than 1.0 is not supported")
        if self.num_ceps > self.num_mel_bins or self.num_ceps < 1:
            raise ValueError(f"num-ceps {self.num_ceps} must be 1..num-mel-bins "
                             f"({self.num_mel_bins})")
        if self.frame_shift <= 0 or self.frame_length <= 0:
            raise ValueError("frame-length and frame-shift must be positive")

    @property
    def window_samples(self) -> int:
        return int(self.sample_frequency * 0.001 * self.frame_length)

    @property
    def shift_samples(self) -> int:
        return int(self.sample_frequency * 0.001 * self.frame_shift)

    def num_frames(self, num_samples: int) -> int:
        """Kaldi's NumFrames (feature-window.cc)."""
        win, shift = self.window_samples, self.shift_samples
        if self.snip_edges:
            return 0 if num_samples < win else 1 + (num_samples - win) // shift
        return (num_samples + shift // 2) // shift

    def to_kaldi(self) -> list[str]:
        """The options as compute-mfcc-feats arguments (every one, so nothing is defaulted)."""
        return [f"--{f.name.replace('_', '-')}={_kaldi_value(getattr(self, f.name))}"
                for f in fields(self)]


@dataclass(frozen=True)
class CmvnOptions:
    """apply-cmvn options, and whether statistics are per speaker (compute-cmvn-stats
    --spk2utt) or per utterance."""

    norm_means: bool = True
    norm_vars: bool = False
    per_speaker: bool = False

    def __post_init__(self):
        if self.norm_vars and not self.norm_means:
            raise ValueError("--norm-vars=true needs --norm-means=true (as apply-cmvn)")


@dataclass(frozen=True)
class SpliceOptions:
    """splice-feats options (Kaldi's defaults are 4/4; the seed used 3/3)."""

    left_context: int = 3
    right_context: int = 3

    def __post_init__(self):
        if self.left_context < 0 or self.right_context < 0:
            raise ValueError("contexts must be >= 0")

    @property
    def offsets(self) -> tuple[int, ...]:
        return tuple(range(-self.left_context, self.right_context + 1))


def _kaldi_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    return str(v)


def _to_bool(text: str, name: str, source: str) -> bool:
    t = text.lower()
    if t in ("true", "t", "1", ""):
        return True
    if t in ("false", "f", "0"):
        return False
    raise FormatError(f"{source}: --{name} expects true or false, found {text!r}")


def parse_args(args: list[str], cls: type, source: str, kaldi_defaults: dict | None = None,
               exclude: tuple[str, ...] = ()):
    """Build ``cls`` from Kaldi ``--name=value`` arguments.

    ``kaldi_defaults`` replaces our defaults by Kaldi's binary's own for fields that a file
    which exists but does not mention them should get (an option file means Kaldi's tool).
    """
    known = {f.name: f for f in fields(cls) if f.name not in exclude}
    values: dict = dict(kaldi_defaults or {})
    for arg in args:
        if not arg.startswith("--"):
            raise FormatError(f"{source}: expected --name=value options, found {arg!r}")
        name, _, value = arg[2:].partition("=")
        key = name.replace("-", "_")
        if key not in known:
            raise FormatError(f"{source}: unknown or unsupported option --{name}; "
                              f"deepbrain reads {', '.join('--' + k.replace('_', '-') for k in known)}")
        kind = known[key].type
        try:
            if kind in ("bool", bool):
                values[key] = _to_bool(value, name, source)
            elif kind in ("int", int):
                values[key] = int(value)
            elif kind in ("float", float):
                values[key] = float(value)
            else:
                values[key] = value
        except ValueError:
            raise FormatError(f"{source}: --{name}={value} is not a valid {kind}") from None
    try:
        return cls(**values)
    except ValueError as e:
        raise FormatError(f"{source}: {e}") from None


def read_config_file(path: str | os.PathLike) -> list[str]:
    """A Kaldi ``--config`` file: one option a line, ``#`` starts a comment."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: cannot be read as a Kaldi config file ({e})") from None
    args = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            args.extend(line.split())
    return args


_PLAIN_OPTION = re.compile(r"--[a-z][a-z-]*(=[A-Za-z0-9_.:,+-]*)?")


def read_opts_file(path: str | os.PathLike) -> list[str]:
    """A one-line option file (``cmvn_opts``, ``splice_opts``): words split at whitespace,
    each a plain ``--name=value``. The file is data, never shell: quotes, ``#``, ``$``,
    ``;`` and the like are refused, exactly as ``getact.sh`` refuses them, so what deepbrain
    validates is what Kaldi runs."""
    try:
        words = Path(path).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: cannot be read as Kaldi options ({e})") from None
    for word in words:
        if not _PLAIN_OPTION.fullmatch(word):
            raise FormatError(f"{path}: {word[:60]!r} is not a plain --name=value option "
                              f"(values may hold only letters, digits and _.:,+-); the file "
                              f"is data, not shell: write e.g. --norm-means=true")
    return words


def load_mfcc_options(path: str | os.PathLike | None) -> MfccOptions:
    if path is None or not Path(path).exists():
        return MfccOptions()
    # A model's mfcc.conf is read against Kaldi's own defaults, except dither (kept at 0
    # unless the file sets it) so that the same wav always gives the same picture.
    kaldi = {"use_energy": True}
    return parse_args(read_config_file(path), MfccOptions, str(path), kaldi)


def load_cmvn_options(path: str | os.PathLike | None, per_speaker: bool = False) -> CmvnOptions:
    if path is None or not Path(path).exists():
        return CmvnOptions(per_speaker=per_speaker)
    opts = parse_args(read_opts_file(path), CmvnOptions, str(path), exclude=("per_speaker",))
    return dataclasses.replace(opts, per_speaker=per_speaker)


def load_splice_options(path: str | os.PathLike | None) -> SpliceOptions:
    if path is None or not Path(path).exists():
        return SpliceOptions()
    return parse_args(read_opts_file(path), SpliceOptions, str(path),
                      {"left_context": 4, "right_context": 4})
