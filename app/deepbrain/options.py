"""Kaldi option files: ``conf/mfcc.conf``, ``cmvn_opts``, ``splice_opts``.

Parsed as Kaldi's ``ParseOptions`` does (``--name=value``, ``_`` same as ``-``, booleans
``true/false/t/f/1/0``, ``#`` comments in config files); an option Kaldi would reject is an
error naming the file. This module is the one source of truth for the front-end defaults:
where a model directory has no option file, the seed system's getact.sh values apply
(16 kHz, no energy, means-only CMVN per utterance, splice +-3), with dither 0.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import stat
from dataclasses import dataclass, fields

import numpy as np

from .errors import FormatError


@dataclass(frozen=True)
class FramedOptions:
    """What compute-mfcc-feats and compute-fbank-feats share: the frame extraction
    (feature-window.h) and mel bank (mel-computations.h) options, energy and VTLN. Defaults are
    Kaldi's, except sample-frequency 16000 (the seed's) and dither 0 (Kaldi: 1) for repeatable
    output."""

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
    use_energy: bool = False
    energy_floor: float = 0.0
    raw_energy: bool = True
    htk_compat: bool = False
    subtract_mean: bool = False
    vtln_warp: float = 1.0

    binary = ""  # the Kaldi program these options are for

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def __post_init__(self):
        _as_kaldi_floats(self)
        _check_framed(self)

    @property
    def window_samples(self) -> int:
        return int(self.sample_frequency * 0.001 * self.frame_length)

    @property
    def shift_samples(self) -> int:
        return int(self.sample_frequency * 0.001 * self.frame_shift)

    @property
    def padded_window_samples(self) -> int:
        """The FFT size: the window rounded up to a power of two (PaddedWindowSize)."""
        n = self.window_samples
        return 1 << (n - 1).bit_length() if self.round_to_power_of_two else n

    @property
    def mel_range(self) -> tuple[float, float]:
        """low-freq and high-freq in Hz, a high-freq <= 0 taken from the Nyquist (MelBanks)."""
        nyquist = 0.5 * self.sample_frequency
        return self.low_freq, self.high_freq if self.high_freq > 0 else nyquist + self.high_freq

    def num_frames(self, num_samples: int) -> int:
        """Kaldi's NumFrames (feature-window.cc)."""
        win, shift = self.window_samples, self.shift_samples
        if self.snip_edges:
            return 0 if num_samples < win else 1 + (num_samples - win) // shift
        return (num_samples + shift // 2) // shift

    def to_kaldi(self) -> list[str]:
        """The options as the program's arguments (every one, so nothing is defaulted)."""
        return [f"--{f.name.replace('_', '-')}={_kaldi_value(getattr(self, f.name))}"
                for f in fields(self)]


@dataclass(frozen=True)
class MfccOptions(FramedOptions):
    """compute-mfcc-feats options; use-energy false by default (the seed's; Kaldi: true,
    which a model's own mfcc.conf gets)."""

    num_ceps: int = 13
    cepstral_lifter: float = 22.0

    binary = "compute-mfcc-feats"

    def __post_init__(self):
        super().__post_init__()
        if not 1 <= self.num_ceps <= self.num_mel_bins:
            raise ValueError(f"num-ceps {self.num_ceps} must be 1..num-mel-bins "
                             f"({self.num_mel_bins})")

    @property
    def dim(self) -> int:
        return self.num_ceps  # with use-energy, the energy takes C0's place


@dataclass(frozen=True)
class FbankOptions(FramedOptions):
    """compute-fbank-feats options (Kaldi's defaults, dither 0)."""

    use_log_fbank: bool = True
    use_power: bool = True

    binary = "compute-fbank-feats"

    @property
    def dim(self) -> int:
        return self.num_mel_bins + (1 if self.use_energy else 0)


WINDOW_TYPES = ("povey", "hamming", "hanning", "rectangular", "sine", "blackman")
MAX_WINDOW_SAMPLES = 1 << 20  # deepbrain's limit on a frame (65 s at 16 kHz): memory stays small


def _opt(name: str) -> str:
    return "--" + name.replace("_", "-")


def _as_kaldi_floats(o: FramedOptions) -> None:
    """Round every float option to 32 bits, as Kaldi (BaseFloat) and kaldi-native-fbank hold
    them, so that the checks below judge the values the feature code will compute with."""
    for f in fields(o):
        v = getattr(o, f.name)
        if not isinstance(v, float):
            continue
        if math.isfinite(v):
            with np.errstate(over="ignore"):
                v32 = float(np.float32(v))
            if not math.isfinite(v32):
                raise ValueError(f"{_opt(f.name)}={v:g}: beyond the range of Kaldi's 32-bit "
                                 f"float options")
            object.__setattr__(o, f.name, v32)


def _check_framed(o: FramedOptions) -> None:
    """Refuse what compute-mfcc-feats and compute-fbank-feats refuse, or crash or divide by
    zero on.

    The checks are Kaldi's own (feature-window.h/.cc, mel-computations.cc, feature-mfcc.cc):
    a window of at least 2 samples (the window functions divide by length - 1) and a shift of
    at least 1, an even FFT size, preemphasis in [0, 1], at least 3 mel bins each covering an
    FFT bin, 0 <= low-freq < high-freq <= Nyquist, num-ceps <= num-mel-bins. Added: every
    number finite, a whole sample frequency (wav headers hold whole Hz), and frames of at most
    MAX_WINDOW_SAMPLES (Kaldi's int32 sizes would overflow long before memory runs out).
    """
    for f in fields(o):
        v = getattr(o, f.name)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{_opt(f.name)}={v}: expected a finite number")
    if o.window_type not in WINDOW_TYPES:
        raise ValueError(f"window-type {o.window_type!r} is not one Kaldi knows; use one of "
                         f"{', '.join(WINDOW_TYPES)}")
    if o.vtln_warp != 1.0:
        raise ValueError(f"vtln-warp other than 1.0 is not supported (found {o.vtln_warp:g}); "
                         f"drop --vtln-warp")
    sf = o.sample_frequency
    if not (sf > 0 and sf == int(sf)):
        raise ValueError(f"--sample-frequency={sf:g}: expected the wavs' sample rate in Hz, a "
                         f"whole number above 0 (e.g. 16000)")
    for name, samples, least in (("frame_length", o.window_samples, 2),
                                 ("frame_shift", o.shift_samples, 1)):
        ms = getattr(o, name)
        if ms <= 0:
            raise ValueError(f"{_opt(name)}={ms:g}: expected a length in milliseconds above 0 "
                             f"(usually {'25' if name == 'frame_length' else '10'})")
        if samples < least:
            hint = (f"; the value is in milliseconds and {ms:g} looks like seconds: "
                    f"{_opt(name)}={ms * 1000:g}?" if 0 < ms < 1 else "")
            raise ValueError(f"{_opt(name)}={ms:g} ms at {sf:g} Hz is {samples} sample(s), "
                             f"at least {least} needed{hint}")
        if samples > MAX_WINDOW_SAMPLES:
            raise ValueError(f"{_opt(name)}={ms:g} ms at {sf:g} Hz is {samples} samples; "
                             f"deepbrain takes at most {MAX_WINDOW_SAMPLES} (frames are "
                             f"usually 25 ms long, 10 ms apart)")
    if o.padded_window_samples % 2:
        raise ValueError(f"--frame-length={o.frame_length:g} ms at {sf:g} Hz is "
                         f"{o.window_samples} samples, an odd FFT size Kaldi refuses with "
                         f"--round-to-power-of-two=false; make it even or drop that option")
    if not 0.0 <= o.preemphasis_coefficient <= 1.0:
        raise ValueError(f"--preemphasis-coefficient={o.preemphasis_coefficient:g}: expected "
                         f"0..1 (usually 0.97)")
    _check_mel_bins(o)


def _check_mel_bins(o: FramedOptions) -> None:
    nyquist = 0.5 * o.sample_frequency
    low, high = o.mel_range
    if not (0.0 <= low < nyquist and 0.0 < high <= nyquist and low < high):
        raise ValueError(f"--low-freq={o.low_freq:g} and --high-freq={o.high_freq:g} give "
                         f"{low:g}..{high:g} Hz; expected 0 <= low < high <= {nyquist:g} (the "
                         f"Nyquist frequency at {o.sample_frequency:g} Hz; a high-freq <= 0 is "
                         f"counted down from it)")
    if o.num_mel_bins < 3:
        raise ValueError(f"--num-mel-bins={o.num_mel_bins}: Kaldi needs at least 3")
    fft_bins = o.padded_window_samples // 2
    if o.num_mel_bins > 2 * fft_bins or _empty_mel_bin(o, o.num_mel_bins) is not None:
        most = _most_mel_bins(o)
        fix = (f"use at most {most} (usually 23)" if most else "no 3 mel bins fit: widen "
               "--low-freq..--high-freq")
        raise ValueError(f"--num-mel-bins={o.num_mel_bins}: too many for a "
                         f"{o.padded_window_samples}-point FFT over {low:g}..{high:g} Hz (some "
                         f"mel bins would hold no FFT bin, which Kaldi refuses); {fix}, or "
                         f"use a longer --frame-length")


def _empty_mel_bin(o: FramedOptions, num_bins: int) -> int | None:
    """The first mel bin no FFT bin falls in, as MelBanks computes them (in float), or None."""
    f32 = np.float32
    padded = o.padded_window_samples
    low, high = o.mel_range

    def mel(freq):
        return f32(1127.0) * np.log(f32(1.0) + np.asarray(freq, f32) / f32(700.0))

    mel_low, mel_high = mel(low), mel(high)
    delta = (mel_high - mel_low) / f32(num_bins + 1)
    fft_mels = mel(f32(o.sample_frequency / padded) * np.arange(padded // 2, dtype=f32))
    bins = np.arange(num_bins, dtype=f32)
    left, right = mel_low + bins * delta, mel_low + (bins + 2) * delta
    inside = np.searchsorted(fft_mels, right, "left") - np.searchsorted(fft_mels, left, "right")
    empty = np.flatnonzero(inside <= 0)
    return int(empty[0]) if empty.size else None


def _most_mel_bins(o: FramedOptions) -> int:
    """The largest number of mel bins (below the one asked for) that all hold an FFT bin."""
    lo, hi = 3, min(o.num_mel_bins - 1, o.padded_window_samples)
    if _empty_mel_bin(o, lo) is not None:
        return 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if _empty_mel_bin(o, mid) is None else (lo, mid - 1)
    return lo


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


@dataclass(frozen=True)
class DeltaOptions:
    """add-deltas options (Kaldi's defaults): appends ``delta_order`` orders of deltas, each
    over ``2 * delta_window + 1`` frames, edge frames repeated."""

    delta_order: int = 2
    delta_window: int = 2

    def __post_init__(self):
        if not 0 <= self.delta_order <= 10 or not 1 <= self.delta_window <= 100:
            raise ValueError(f"--delta-order={self.delta_order} and --delta-window="
                             f"{self.delta_window}: expected an order 0..10 and a window 1..100 "
                             f"(usually 2 and 2)")

    @property
    def context(self) -> int:
        """Frames needed on each side of a frame."""
        return self.delta_order * self.delta_window


@dataclass(frozen=True)
class OnlineCmvnOptions:
    """apply-cmvn-online options (OnlineCmvnOptions in online-feature.h, its defaults)."""

    cmn_window: int = 600
    speaker_frames: int = 600
    global_frames: int = 200
    norm_means: bool = True
    norm_vars: bool = False
    skip_dims: str = ""

    def __post_init__(self):
        if not (0 < self.cmn_window <= 1_000_000 and 0 <= self.global_frames
                <= self.speaker_frames <= self.cmn_window):
            raise ValueError(f"--cmn-window={self.cmn_window}, --speaker-frames="
                             f"{self.speaker_frames}, --global-frames={self.global_frames}: "
                             f"expected 0 <= global-frames <= speaker-frames <= cmn-window "
                             f"(Kaldi's check; defaults 200, 600, 600)")
        if self.norm_vars and not self.norm_means:
            raise ValueError("--norm-vars=true needs --norm-means=true (as apply-cmvn-online)")
        if self.skip_dims and not re.fullmatch(r"\d+(:\d+)*", self.skip_dims):
            raise ValueError(f"--skip-dims={self.skip_dims}: expected dimensions joined by "
                             f"colons, e.g. 13:14:15")

    @property
    def skipped(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.skip_dims.split(":")) if self.skip_dims else ()


def _kaldi_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        # the shortest text that reads back as the same 32-bit float
        return str(int(v)) if v == int(v) else np.format_float_positional(np.float32(v))
    return str(v)


def _to_bool(text: str, name: str, source: str) -> bool:
    t = text.lower()
    if t in ("true", "t", "1", ""):
        return True
    if t in ("false", "f", "0"):
        return False
    raise FormatError(f"{source}: --{name} expects true or false, found {text!r}")


_INT = re.compile(r"[+-]?[0-9]+")
_REAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_NONFINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)


def parse_args(args: list[str], cls: type, source: str, kaldi_defaults: dict | None = None,
               exclude: tuple[str, ...] = ()):
    """Build ``cls`` from Kaldi ``--name=value`` arguments.

    ``kaldi_defaults`` replaces our defaults by Kaldi's binary's own for fields that a file
    which exists but does not mention them should get (an option file means Kaldi's tool).
    Numbers are spelled as Kaldi's reader takes them (``1_000`` or `` 5`` are refused; NaN and
    infinity are read, for the options' own checks to name them).
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
                if not _INT.fullmatch(value):
                    raise ValueError(value)
                values[key] = int(value)
            elif kind in ("float", float):
                if not (_REAL.fullmatch(value) or _NONFINITE.fullmatch(value)):
                    raise ValueError(value)
                values[key] = float(value)
            else:
                values[key] = value
        except ValueError:
            raise FormatError(f"{source}: --{name}={value[:40]} is not a valid {kind}") from None
    try:
        return cls(**values)
    except ValueError as e:
        raise FormatError(f"{source}: {e}") from None


def canonical_args(words: list[str], cls: type, added: dict | None = None) -> tuple[str, ...]:
    """Options as the front end's description shows them (``getact.sh --print-frontend``
    prints the same): ``_`` in names as ``-``, booleans as true/false, other values as
    written, the last of repeated options, ``added`` where the words do not set them, sorted
    by name. The words must have been checked (:func:`parse_args`)."""
    kinds = {f.name.replace("_", "-"): f.type for f in fields(cls)}
    last: dict[str, str] = {}
    for word in words:
        name, eq, value = word[2:].partition("=")
        name = name.replace("_", "-")
        if kinds.get(name) in ("bool", bool):
            value, eq = ("true" if value.lower() in ("true", "t", "1", "") else "false"), "="
        last[name] = f"--{name}{eq}{value}"
    for name, value in (added or {}).items():
        last.setdefault(name, f"--{name}={value}")
    return tuple(last[k] for k in sorted(last))


MAX_OPTION_FILE_BYTES = 65536  # a Kaldi option file is a few lines; more is not one


def _read_option_text(path: str | os.PathLike, what: str) -> str:
    """The text of an option file that is a regular file of at most MAX_OPTION_FILE_BYTES;
    a FIFO, device or folder is refused before it is read (a FIFO would block forever)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise FormatError(f"{path}: cannot be read as {what} ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise FormatError(f"{path}: is {_file_kind(st.st_mode)}, not a file of {what}; "
                              f"replace it with a plain text file")
        if st.st_size > MAX_OPTION_FILE_BYTES:
            raise FormatError(f"{path}: {st.st_size} bytes is not {what} (at most "
                              f"{MAX_OPTION_FILE_BYTES}); replace it with the options the "
                              f"model was trained with")
        os.set_blocking(f.fileno(), True)
        data = f.read(MAX_OPTION_FILE_BYTES + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: cannot be read as {what} ({e})") from None


def _file_kind(mode: int) -> str:
    return ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket")


def present(path: str | os.PathLike) -> bool:
    """Whether a model's option file is there: a regular file is; nothing there is not;
    anything else there (a FIFO, a folder, a device) is an error naming it, never taken
    for an absent file (that would silently change the front end)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as e:
        raise FormatError(f"{path}: cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(mode):
        raise FormatError(f"{path}: is {_file_kind(mode)}, not an option file; replace it "
                          f"with a plain text file or remove it")
    return True


_PLAIN_OPTION = re.compile(r"--[a-z][a-z0-9_-]*(=[A-Za-z0-9_.:,+-]*)?")
# nnet3 model dirs (getact_nnet3.sh's check): names with dots (Vosk's conf/model.conf has
# --endpoint.rule2.min-trailing-silence), values with paths (conf/ivector_extractor.conf).
_NNET3_OPTION = re.compile(r"--[a-z][a-z0-9_.-]*(=[A-Za-z0-9_./:=,+-]*)?")


def _check_plain(words: list[str], path, pattern: re.Pattern = _PLAIN_OPTION,
                 chars: str = "_.:,+-") -> list[str]:
    for word in words:
        if not word.startswith("--"):
            raise FormatError(f"{path}: expected --name=value options, found {word[:60]!r}")
        if not pattern.fullmatch(word):
            raise FormatError(f"{path}: {word[:60]!r} is not a plain --name=value option "
                              f"(values may hold only letters, digits and {chars}); the file "
                              f"is data, not shell: write e.g. --norm-means=true")
    return words


def read_config_file(path: str | os.PathLike) -> list[str]:
    """A Kaldi ``--config`` file: options split at whitespace, ``#`` starts a comment; each
    a plain ``--name=value`` as in :func:`read_opts_file` (getact.sh checks the same)."""
    args = []
    for line in _read_option_text(path, "a Kaldi config file").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            args.extend(line.split())
    return _check_plain(args, path)


def read_nnet3_config_file(path: str | os.PathLike) -> list[str]:
    """A config file of an nnet3 model dir, checked as getact_nnet3.sh checks it: option
    names may hold dots, values paths (letters, digits and ``_./:=,+-``)."""
    args = []
    for line in _read_option_text(path, "a Kaldi config file").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            args.extend(line.split())
    return _check_plain(args, path, _NNET3_OPTION, "_./:=,+-")


def read_opts_file(path: str | os.PathLike) -> list[str]:
    """A one-line option file (``cmvn_opts``, ``splice_opts``): words split at whitespace,
    each a plain ``--name=value``. The file is data, never shell: quotes, ``#``, ``$``,
    ``;`` and the like are refused, exactly as ``getact.sh`` refuses them, so what deepbrain
    validates is what Kaldi runs."""
    return _check_plain(_read_option_text(path, "Kaldi options").split(), path)


# Each option file's options from its words (read with read_config_file or read_opts_file),
# and the same from a path (None or absent: the defaults).

def mfcc_options(words: list[str], source: str) -> MfccOptions:
    """A model's mfcc.conf is read against Kaldi's own defaults, except dither (kept at 0
    unless the file sets it) so that the same wav always gives the same picture."""
    return parse_args(words, MfccOptions, source, {"use_energy": True})


def fbank_options(words: list[str], source: str) -> FbankOptions:
    """A model's fbank.conf against Kaldi's defaults (dither 0 unless it sets it)."""
    return parse_args(words, FbankOptions, source)


def cmvn_options(words: list[str], source: str, per_speaker: bool = False) -> CmvnOptions:
    opts = parse_args(words, CmvnOptions, source, exclude=("per_speaker",))
    return dataclasses.replace(opts, per_speaker=per_speaker)


def splice_options(words: list[str], source: str) -> SpliceOptions:
    """splice_opts against splice-feats' own defaults (4/4)."""
    return parse_args(words, SpliceOptions, source, {"left_context": 4, "right_context": 4})


def delta_options(words: list[str], source: str) -> DeltaOptions:
    return parse_args(words, DeltaOptions, source)


def online_cmvn_options(words: list[str], source: str) -> OnlineCmvnOptions:
    return parse_args(words, OnlineCmvnOptions, source)


def load_mfcc_options(path: str | os.PathLike | None) -> MfccOptions:
    if path is None or not present(path):
        return MfccOptions()
    return mfcc_options(read_config_file(path), str(path))


def load_cmvn_options(path: str | os.PathLike | None, per_speaker: bool = False) -> CmvnOptions:
    if path is None or not present(path):
        return CmvnOptions(per_speaker=per_speaker)
    return cmvn_options(read_opts_file(path), str(path), per_speaker)


def load_splice_options(path: str | os.PathLike | None, kaldi_default: bool = False
                        ) -> SpliceOptions:
    """splice_opts; without one, the seed's +-3 (or splice-feats' own +-4 for a Kaldi dir)."""
    if path is None or not present(path):
        return SpliceOptions(4, 4) if kaldi_default else SpliceOptions()
    return splice_options(read_opts_file(path), str(path))


def load_fbank_options(path: str | os.PathLike) -> FbankOptions:
    return fbank_options(read_config_file(path), str(path))


def load_delta_options(path: str | os.PathLike) -> DeltaOptions:
    return delta_options(read_opts_file(path), str(path))


def load_online_cmvn_options(path: str | os.PathLike) -> OnlineCmvnOptions:
    return online_cmvn_options(read_opts_file(path), str(path))
