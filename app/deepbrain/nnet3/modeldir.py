"""Where an nnet3 model keeps its files: Kaldi's recipe dirs and the layout Vosk ships.

- Kaldi (``steps/online/nnet3/prepare_online_decoding.sh`` output, or an ``exp/chain/...`` dir
  given its conf): ``final.mdl``, ``conf/mfcc.conf`` (hires), ``conf/ivector_extractor.conf``
  naming the extractor's files, ``frame_subsampling_factor``.
- Vosk: ``am/final.mdl``, ``conf/mfcc.conf``, ``conf/model.conf``
  (``--frame-subsampling-factor``), ``ivector/`` with ``final.ie``, ``final.dubm``,
  ``final.mat``, ``global_cmvn.stats``, ``online_cmvn.conf``, ``splice.conf``. Vosk runs the
  extractor with ``max_count = 100`` (its ``model.cc``) and Kaldi's other defaults; so do we.
- An extractor dir (``ivector_extractor/``, ``extractor/``) as ``train_ivector_extractor.sh``
  leaves it, with ``splice_opts`` instead of ``splice.conf``: Kaldi's defaults.

Everything missing is listed at once (``Nnet3ModelDir.missing``); nothing here reads the
large files, so it is quick enough for ``deepbrain info``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from ..errors import FormatError, ModelError
from ..options import MfccOptions, parse_args, read_opts_file
from ..options import read_nnet3_config_file as read_config_file
from .ivector import (OnlineCmvnOptions, OnlineIvectorExtractor, OnlineIvectorOptions,
                      read_cmvn_stats, read_diag_gmm, read_ivector_extractor, read_lda)
from .network import Nnet3, read_nnet3

MDL_NAMES = ("final.mdl", "am/final.mdl", "final.raw")
MFCC_NAMES = ("conf/mfcc.conf", "conf/mfcc_hires.conf")
EXTRACTOR_DIRS = ("ivector", "ivector_extractor", "extractor")
IVECTOR_CONFS = ("conf/ivector_extractor.conf", "conf/ivector.conf")
VOSK_MAX_COUNT = 100.0
# ivector-extract-online2 options we follow, and those that do not change its output
_IVECTOR_PATHS = {"lda-matrix": "lda", "global-cmvn-stats": "global_cmvn_stats",
                  "diag-ubm": "diag_ubm", "ivector-extractor": "extractor",
                  "cmvn-config": "cmvn_config", "splice-config": "splice_config"}
_IGNORED = ("max-remembered-frames", "use-most-recent-ivector")
# Resampling options of compute-mfcc-feats: deepbrain resamples before (--resample).
_RESAMPLING = ("--allow-upsample", "--allow-downsample", "--allow_upsample",
               "--allow_downsample")


@dataclass(frozen=True)
class IvectorFiles:
    """An online i-vector extractor's files and options, and where the options came from."""

    lda: Path
    global_cmvn_stats: Path
    diag_ubm: Path
    extractor: Path
    cmvn_config: Optional[Path]
    splice_config: Optional[Path]
    options: OnlineIvectorOptions
    origin: str


@dataclass(frozen=True)
class Nnet3ModelDir:
    root: Path
    mdl: Optional[Path]
    mfcc_conf: Optional[Path]
    ivector: Optional[IvectorFiles]
    frame_subsampling_factor: int
    fsf_origin: str
    missing: tuple[str, ...] = field(default=())

    def check(self) -> None:
        if self.missing:
            raise ModelError(f"{self.root}: the nnet3 model is incomplete: "
                             + "; ".join(self.missing))


def is_nnet3_model_dir(path: str | os.PathLike) -> bool:
    """True when the dir holds an nnet3 ``final.mdl``/``am/final.mdl``/``final.raw``
    (a GMM's or nnet1's ``final.mdl`` is not one: no ``<Nnet3>`` in it)."""
    mdl = _first(Path(path), MDL_NAMES)
    return mdl is not None and _has_nnet3(mdl)


def _has_nnet3(mdl: Path) -> bool:
    try:
        with open(mdl, "rb") as f:
            return b"<Nnet3>" in f.read(32 << 20)
    except OSError:
        return False


def _first(root: Path, names) -> Optional[Path]:
    return next((root / n for n in names if (root / n).is_file()), None)


def find_nnet3_model(path: str | os.PathLike, needs_ivector: Optional[bool] = None
                     ) -> Nnet3ModelDir:
    """The model's files (paths only). ``needs_ivector``: whether the network has an
    ``ivector`` input (None: look for an extractor, and do not miss one)."""
    root = Path(path)
    missing = []
    mdl = _first(root, MDL_NAMES)
    if mdl is None:
        missing.append(f"no nnet3 model ({' or '.join(MDL_NAMES)})")
    mfcc = _first(root, MFCC_NAMES)
    if mfcc is None:
        missing.append("conf/mfcc.conf (the hires MFCC options the network was trained on; "
                       "copy the recipe's conf/mfcc_hires.conf there)")
    ivector = None
    if needs_ivector is not False:
        ivector, problems = _find_ivector(root, vosk=mdl is not None and mdl.parent.name == "am")
        if needs_ivector and ivector is None and not problems:
            problems = [f"an i-vector extractor (conf/ivector_extractor.conf or one of "
                        f"{', '.join(d + '/' for d in EXTRACTOR_DIRS)} with final.ie); the "
                        f"network has an ivector input (or pass i-vectors with --ivectors)"]
        missing += problems
    fsf, origin = _frame_subsampling_factor(root, missing)
    return Nnet3ModelDir(root, mdl, mfcc, ivector, fsf, origin, tuple(missing))


def _frame_subsampling_factor(root: Path, missing: list[str]) -> tuple[int, str]:
    plain = root / "frame_subsampling_factor"
    if plain.is_file():
        text = plain.read_text(errors="replace").strip()
        if text.isdigit() and int(text) > 0:
            return int(text), "frame_subsampling_factor"
        missing.append(f"{plain} should hold a positive integer, holds {text[:20]!r}")
        return 1, "default"
    conf = root / "conf" / "model.conf"
    if conf.is_file():
        for arg in read_config_file(conf):
            name, _, value = arg.partition("=")
            if name.lstrip("-").replace("_", "-") == "frame-subsampling-factor":
                if value.isdigit() and int(value) > 0:
                    return int(value), "conf/model.conf"
                missing.append(f"{conf}: bad {arg}")
    return 1, "default (no frame_subsampling_factor file)"


def _find_ivector(root: Path, vosk: bool) -> tuple[Optional[IvectorFiles], list[str]]:
    conf = _first(root, IVECTOR_CONFS)
    if conf is not None:
        return _ivector_from_conf(root, conf)
    folder = next((root / d for d in EXTRACTOR_DIRS if (root / d / "final.ie").is_file()), None)
    if folder is None:
        return None, []
    files = {"lda": folder / "final.mat", "global_cmvn_stats": folder / "global_cmvn.stats",
             "diag_ubm": folder / "final.dubm", "extractor": folder / "final.ie"}
    splice = _first(folder, ("splice.conf", "splice_opts"))
    cmvn = _first(folder, ("online_cmvn.conf",))
    problems = [f"{p} (part of the i-vector extractor)" for p in files.values()
                if not p.is_file()]
    if splice is None:
        problems.append(f"{folder}/splice.conf or splice_opts (the extractor's splicing)")
    opts = OnlineIvectorOptions(max_count=VOSK_MAX_COUNT) if vosk and folder.name == "ivector" \
        else OnlineIvectorOptions()
    origin = (f"{folder.name}/ (Vosk layout: Kaldi's defaults with max-count {VOSK_MAX_COUNT:g},"
              f" as Vosk runs it)" if opts.max_count else f"{folder.name}/ (Kaldi's defaults)")
    if problems:
        return None, problems
    return IvectorFiles(cmvn_config=cmvn, splice_config=splice, options=opts, origin=origin,
                        **files), []


def _ivector_from_conf(root: Path, conf: Path) -> tuple[Optional[IvectorFiles], list[str]]:
    """``--config`` of ivector-extract-online2 (prepare_online_decoding.sh writes one)."""
    paths: dict[str, Optional[Path]] = {"cmvn_config": None}
    args, problems = [], []
    for arg in read_config_file(conf):
        name, _, value = arg[2:].partition("=")
        name = name.replace("_", "-")
        if name in _IVECTOR_PATHS:
            found = _resolve(root, value)
            if found is None:
                problems.append(f"{value} (--{name} in {conf}; not found as written, nor in "
                                f"{root} or its ivector_extractor/ and conf/)")
            paths[_IVECTOR_PATHS[name]] = found
        elif name == "greedy-ivector-extractor" and value.lower() in ("true", "t", "1", ""):
            problems.append(f"{conf}: --greedy-ivector-extractor is not supported")
        elif name not in _IGNORED and name != "greedy-ivector-extractor":
            args.append(f"--{name}={value}")
    for key in ("lda", "global_cmvn_stats", "diag_ubm", "extractor", "splice_config"):
        if key not in paths:
            problems.append(f"{conf} does not set --{_option(key)}")
    if problems:
        return None, problems
    try:
        opts = parse_args(args, OnlineIvectorOptions, str(conf),
                          exclude=("left_context", "right_context"))
    except FormatError as e:
        return None, [str(e)]
    return IvectorFiles(options=opts, origin=str(conf.relative_to(root)), **paths), []


def _option(key: str) -> str:
    return next(k for k, v in _IVECTOR_PATHS.items() if v == key)


def _resolve(root: Path, value: str) -> Optional[Path]:
    p = Path(value)
    for candidate in (p, root / p, root / "ivector_extractor" / p.name, root / "conf" / p.name,
                      root / p.name):
        if candidate.is_file():
            return candidate
    return None


# -- loading ---------------------------------------------------------------------------------

def load_network(model: Nnet3ModelDir) -> Nnet3:
    if model.mdl is None:
        model.check()
    return read_nnet3(model.mdl, model.frame_subsampling_factor)


def load_hires_mfcc_options(path: str | os.PathLike) -> MfccOptions:
    """A hires ``mfcc.conf``, as compute-mfcc-feats reads it; Vosk's resampling options are
    left out (deepbrain resamples beforehand with --resample; they change nothing else)."""
    args = [a for a in read_config_file(path) if a.split("=", 1)[0] not in _RESAMPLING]
    return parse_args(args, MfccOptions, str(path), {"use_energy": True})


def load_ivector_extractor(files: IvectorFiles) -> OnlineIvectorExtractor:
    opts = files.options
    if files.splice_config is not None:
        args = read_opts_file(files.splice_config) if files.splice_config.name == "splice_opts" \
            else read_config_file(files.splice_config)
        splice = parse_args(args, OnlineIvectorOptions, str(files.splice_config),
                            exclude=tuple(f for f in OnlineIvectorOptions.__dataclass_fields__
                                          if f not in ("left_context", "right_context")))
        opts = replace(opts, left_context=splice.left_context,
                       right_context=splice.right_context)
    cmvn = OnlineCmvnOptions()
    if files.cmvn_config is not None:
        cmvn = parse_args(read_config_file(files.cmvn_config), OnlineCmvnOptions,
                          str(files.cmvn_config))
    ex = OnlineIvectorExtractor(opts, cmvn, read_lda(files.lda),
                                read_cmvn_stats(files.global_cmvn_stats),
                                read_diag_gmm(files.diag_ubm),
                                read_ivector_extractor(files.extractor),
                                str(files.extractor.parent))
    ex.check()
    return ex


def describe(model: Nnet3ModelDir) -> list[str]:
    """What ``deepbrain info`` says about the dir: the files found and what is missing."""
    rel = lambda p: str(p.relative_to(model.root)) if p and model.root in p.parents else str(p)
    lines = [f"nnet3 model: {rel(model.mdl) if model.mdl else 'missing'}",
             f"front end: compute-mfcc-feats {rel(model.mfcc_conf) if model.mfcc_conf else '?'}"]
    if model.ivector:
        o = model.ivector.options
        lines.append(f"  + ivector-extract-online2 from {model.ivector.origin}: period "
                     f"{o.ivector_period}, num-gselect {o.num_gselect}, min-post {o.min_post:g}, "
                     f"posterior-scale {o.posterior_scale:g}, max-count {o.max_count:g}")
    lines.append(f"frame subsampling factor: {model.frame_subsampling_factor} "
                 f"({model.fsf_origin})")
    lines += [f"missing: {m}" for m in model.missing]
    return lines
