"""An nnet3 model directory (Kaldi's or Vosk's layout) behind the network interface the
engines and the CLI use: hidden layers (names, units), contexts, the front end's options.

:mod:`deepbrain.nnet3` is the library (reading, computing); this module is the model as the
rest of deepbrain sees it, next to :class:`deepbrain.model.Model` (nnet1). Both give
``path``, ``network_file``, ``num_hidden``, ``hidden_dims``, ``layer_names``, ``features``,
``sample_rate``, ``frame_shift`` and ``per_speaker``; the engines pick their route by
``kind``. The window and the maps read nnet1 models only, for now (:func:`not_yet`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DeepbrainError, ModelError
from .nnet3.ivector import OnlineIvectorExtractor
from .nnet3.modeldir import (
    MDL_NAMES,
    Nnet3ModelDir,
    describe,
    find_nnet3_model,
    is_nnet3_model_dir,
    load_hires_mfcc_options,
    load_ivector_extractor,
    load_network,
)
from .nnet3.network import Nnet3
from .options import MfccOptions

DEFAULT_IVECTOR_PERIOD = 10  # nnet3-compute's --online-ivector-period when none is known


@dataclass(frozen=True, eq=False)
class Nnet3Model:
    path: Path
    files: Nnet3ModelDir
    net: Nnet3
    features: MfccOptions                               # hires compute-mfcc-feats options
    ivector_extractor: OnlineIvectorExtractor | None   # None: no ivector input, or given

    kind = "nnet3"
    per_speaker = False  # online i-vectors per utterance: nothing carried between them

    @property
    def network_file(self) -> Path:
        return self.files.mdl

    @property
    def num_hidden(self) -> int:
        return len(self.net.layer_names)

    @property
    def hidden_dims(self) -> tuple[int, ...]:
        return self.net.hidden_dims

    @property
    def layer_names(self) -> tuple[str, ...]:
        return self.net.layer_names

    @property
    def takes_ivectors(self) -> bool:
        return self.net.ivector_dim > 0

    @property
    def ivector_period(self) -> int:
        """The extractor's ``--ivector-period`` (i-vectors given with --ivectors: 10, as the
        recipe's default)."""
        if self.ivector_extractor is not None:
            return self.ivector_extractor.options.ivector_period
        return DEFAULT_IVECTOR_PERIOD

    @property
    def sample_rate(self) -> int:
        return int(self.features.sample_frequency)

    @property
    def frame_shift(self) -> float:
        """Seconds between frames (the layers are computed at every frame, as nnet3-compute's
        default; the frame subsampling factor is reported, not applied)."""
        return self.features.frame_shift / 1000.0

    def describe(self) -> list[str]:
        return describe(self.files)


def load_nnet3_model(directory: str | os.PathLike, ivectors_given: bool = False
                     ) -> Nnet3Model:
    """Load and check an nnet3 model dir; a :class:`ModelError` lists every problem at once.
    ``ivectors_given``: i-vectors come from elsewhere (--ivectors), so no extractor is needed
    (nor loaded)."""
    d = Path(directory)
    if not d.is_dir():
        raise ModelError(f"{d}: not a directory; pass --model with a Kaldi nnet3 model dir "
                         f"({', '.join(MDL_NAMES)}, conf/mfcc.conf, ...)")
    problems: list[str] = []
    files = find_nnet3_model(d, needs_ivector=False)
    net = None
    if files.mdl is not None:
        try:
            net = load_network(files)
        except DeepbrainError as e:
            problems.append(str(e))
        except OSError as e:
            problems.append(f"{files.mdl}: cannot read ({e.strerror or e})")
    if net is not None and net.ivector_dim and not ivectors_given:
        files = find_nnet3_model(d, needs_ivector=True)
    problems[:0] = files.missing
    mfcc = extractor = None
    if files.mfcc_conf is not None:
        try:
            mfcc = load_hires_mfcc_options(files.mfcc_conf)
        except DeepbrainError as e:
            problems.append(str(e))
    if files.ivector is not None and net is not None and net.ivector_dim and not ivectors_given:
        try:
            extractor = load_ivector_extractor(files.ivector)
        except DeepbrainError as e:
            problems.append(str(e))
        except OSError as e:
            problems.append(f"{files.ivector.extractor.parent}: cannot read the i-vector "
                            f"extractor ({e.strerror or e})")
    if net is not None:
        problems += _check_dims(files, net, mfcc, extractor)
    if problems:
        raise ModelError(f"{d}: {len(problems)} problem(s): " + "; ".join(problems))
    return Nnet3Model(d, files, net, mfcc, extractor)


def _check_dims(files: Nnet3ModelDir, net: Nnet3, mfcc: MfccOptions | None,
                extractor: OnlineIvectorExtractor | None) -> list[str]:
    problems = []
    if not net.layer_names:
        problems.append(f"{files.mdl}: has no hidden layer (no ReLU, sigmoid, tanh or p-norm "
                        f"node on the way to 'output'); deepbrain shows what hidden layers do")
    if mfcc is not None and mfcc.dim != net.input_dim:
        problems.append(f"{files.mfcc_conf}: gives {mfcc.dim}-dim MFCCs, but {files.mdl} "
                        f"takes {net.input_dim} inputs (is it the hires mfcc.conf?)")
    if extractor is not None:
        if mfcc is not None and extractor.feat_dim not in (mfcc.dim, mfcc.dim - 3):
            problems.append(f"{extractor.source}: the i-vector extractor takes "
                            f"{extractor.feat_dim}-dim features, {files.mfcc_conf} gives "
                            f"{mfcc.dim}")
        if extractor.ivector_dim != net.ivector_dim:
            problems.append(f"{extractor.source}: gives {extractor.ivector_dim}-dim i-vectors, "
                            f"{files.mdl} takes {net.ivector_dim}")
    return problems


def nnet3_dir(directory: str | os.PathLike | None, strict: bool = True) -> bool:
    """Whether ``directory`` is an nnet3 model dir (and not an nnet1 one: no final.nnet).
    ``strict``: its model file holds ``<Nnet3>``; else any ``final.mdl``/``am/final.mdl``/
    ``final.raw`` without a ``final.nnet`` counts, so that a truncated or foreign one is
    named by the nnet3 reader instead of "final.nnet: missing"."""
    if not directory:
        return False
    d = Path(directory)
    if not d.is_dir() or (d / "final.nnet").is_file():
        return False
    if strict:
        return is_nnet3_model_dir(d)
    return any((d / name).is_file() for name in MDL_NAMES)


def not_yet(directory: str | os.PathLike, what: str) -> ModelError:
    """The one-line refusal where nnet3 models are not yet supported (the window, maps)."""
    return ModelError(f"{directory}: an nnet3 model; {what} nnet1 models only for now "
                      f"(nnet3 models work with 'deepbrain activations' and 'deepbrain info'); "
                      f"pass an nnet1 model dir (final.nnet)")
