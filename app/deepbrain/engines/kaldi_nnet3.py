"""The Kaldi engine's route for nnet3 models: ``kaldi_recipes/getact_nnet3.sh``.

As for nnet1 models (:mod:`.kaldi_engine`): a Kaldi-shaped data dir with safe ids in a work
dir (temporary, or ``--keep-workdir``), the recipe run with an argument list, its
``layerK.scp`` arks read with kaldiio from files. The recipe reads the model dir itself
(hires MFCC, the i-vector extractor, the layers from nnet3-info). i-vectors given with
``--ivectors`` are checked, re-keyed by the safe ids and passed as ``--online-ivectors``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import kaldiio

from ..artefacts import (
    CancelHook,
    Chunk,
    ProgressHook,
    Request,
    Utterance,
    check_cancel,
)
from ..errors import KaldiError
from ..nnet3model import Nnet3Model
from ..resources import recipes_dir
from .kaldi_engine import (
    NNET3,
    KaldiInstall,
    _make_data_dir,
    _num_jobs,
    _stream_results,
    find_kaldi,
    follow_recipe,
    require,
    work_dir,
)
from .numpy_nnet3 import given_ivectors

RECIPE = "getact_nnet3.sh"


def require_nnet3(kaldi: KaldiInstall, model: Nnet3Model) -> None:
    needed = [b for b in NNET3 if b not in kaldi.binaries
              and (b != "ivector-extract-online2" or model.takes_ivectors)]
    if needed:
        raise KaldiError(f"Kaldi at {kaldi.root} lacks {', '.join(needed)}, which nnet3 models "
                         f"need; build them (make -C src nnet3bin featbin online2bin) or use "
                         f"--engine numpy")


def stream(utts: Sequence[Utterance], model: Nnet3Model, request: Request,
           progress: ProgressHook | None, cancel: CancelHook | None, chunk_frames: int
           ) -> Iterator[Chunk]:
    kaldi = find_kaldi()
    require(kaldi)
    require_nnet3(kaldi, model)
    given = given_ivectors(model, request, [u.utt_id for u in utts])  # checked before work
    work = work_dir(request)
    try:
        check_cancel(cancel)
        ids = _make_data_dir(utts, model, request, work)
        extra: list[str] = []
        if given is not None:
            scp = _write_ivectors(given, ids, work)
            period = request.ivector_period or model.ivector_period
            extra = ["--online-ivectors", str(scp), "--online-ivector-period", str(period)]
        _run_recipe(kaldi, model, request, work, extra, progress, cancel)
        plain = replace(request, keep_intermediate=False)  # refused for nnet3 (cli)
        yield from _stream_results(work / "exp", ids, model, plain, chunk_frames, cancel)
    finally:
        if request.keep_workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def _write_ivectors(given: dict, ids: dict[str, str], work: Path) -> Path:
    """The given i-vectors keyed by the safe ids; the scp names the ark relative to the
    recipe's out dir (``exp/``, where its jobs run), so no path of the user's reaches Kaldi."""
    ark, scp = work / "ivectors.ark", work / "ivectors.scp"
    kaldiio.save_ark(str(ark), {safe: given[user] for safe, user in sorted(ids.items())},
                     scp=str(scp))
    lines = scp.read_text().splitlines()
    scp.write_text("".join(f"{key} ../ivectors.ark:{where.rsplit(':', 1)[1]}\n"
                           for key, where in (line.split(" ", 1) for line in lines)))
    return scp


def _run_recipe(kaldi: KaldiInstall, model: Nnet3Model, request: Request, work: Path,
                extra: list[str], progress: ProgressHook | None, cancel: CancelHook | None
                ) -> None:
    recipe = recipes_dir() / RECIPE
    nj = _num_jobs(request, work)
    argv = ["bash", str(recipe), "--nj", str(nj),
            *(["--cmd", request.cmd] if request.cmd else []),   # else cmd.sh's
            "--layers", ",".join(map(str, request.layers)),
            "--write-output", str(request.output).lower(),
            *extra,
            str(work / "data"), str(Path(model.path).absolute()), str(work / "exp")]
    totals = {"mfcc": nj, "forward": nj}
    if model.takes_ivectors and not extra:
        totals["ivector"] = nj
    follow_recipe(kaldi, recipe, argv, work, totals, request, progress, cancel)
