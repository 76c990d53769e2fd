"""An nnet3 model directory (Kaldi's or Vosk's layout) behind the network interface the
engines and the CLI use: hidden layers (names, units), contexts, the front end's options.

:mod:`deepbrain.nnet3` is the library (reading, computing); this module is the model as the
rest of deepbrain sees it, next to :class:`deepbrain.model.Model` (nnet1). Both give
``path``, ``network_file``, ``num_hidden``, ``hidden_dims``, ``layer_names``, ``features``,
``sample_rate``, ``frame_shift`` and ``per_speaker``; the engines pick their route by
``kind``. Labelled maps and the window's nnet1-only parts refuse them (:func:`not_yet`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .errors import DeepbrainError, ModelError
from .layermap import LayerMap
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


LAYER_KINDS = {"RectifiedLinearComponent": ("relu", ""), "SigmoidComponent":
               ("sigmoid", "<Sigmoid>"), "TanhComponent": ("tanh", "<Tanh>"),
               "PnormComponent": ("p-norm", "")}  # title word, nnet1 marker (colour range)


@dataclass(frozen=True, eq=False)
class Nnet3Model:
    path: Path
    files: Nnet3ModelDir
    net: Nnet3
    features: MfccOptions                               # hires compute-mfcc-feats options
    ivector_extractor: OnlineIvectorExtractor | None   # None: no ivector input, or given
    maps: Mapping[int, LayerMap] = field(default_factory=lambda: MappingProxyType({}))

    kind = "nnet3"
    per_speaker = False  # online i-vectors per utterance: nothing carried between them
    default_layers: tuple[int, ...] = ()   # no ``layers`` file: every layer with a map
    phones = None        # no phones.txt: a chain model's outputs are pdfs, not phones

    @property
    def mfcc(self) -> MfccOptions:
        """The name the window gives the feature options (as nnet1's ``Model.mfcc``)."""
        return self.features

    def _layer_kind(self, k: int) -> tuple[str, str]:
        comp = self.net.components[self.net.node(self.layer_names[k - 1]).component]
        name = type(comp).__name__
        return LAYER_KINDS.get(name, (name.removesuffix("Component").lower(), ""))

    def layer_marker(self, k: int) -> str:
        """``<Sigmoid>``/``<Tanh>`` where the layer has nnet1's natural range, else ""."""
        return self._layer_kind(k)[1]

    def layer_title(self, k: int) -> str:
        """The node name, units and kind: ``tdnnf5.relu \u00b7 768 relu``."""
        return f"{self.layer_names[k - 1]} \u00b7 {self.hidden_dims[k - 1]} " \
               f"{self._layer_kind(k)[0]}"

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The stages a wav goes through, as the engines report their progress."""
        return ("mfcc",) + (("ivector",) if self.ivector_extractor else ()) + ("forward",)

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
    from .model import load_maps  # model imports this module where it loads nnet3 dirs

    maps = load_maps(d, net.hidden_dims if net is not None else None,
                     files.mdl.name if files.mdl is not None else "the network", problems)
    if problems:
        raise ModelError(f"{d}: {len(problems)} problem(s): " + "; ".join(problems))
    return Nnet3Model(d, files, net, mfcc, extractor, MappingProxyType(maps))


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


def not_yet(directory: str | os.PathLike, what: str,
            instead: str = "") -> ModelError:
    """The one-line refusal where nnet3 models are not yet supported (labelled maps, the
    parts of the window that need nnet1 machinery); ``instead``: what does take them."""
    works = "'deepbrain activations', 'deepbrain info'" + (f", '{instead}'" if instead else "")
    return ModelError(f"{directory}: an nnet3 model; {what} nnet1 models only for now "
                      f"(nnet3 models work with {works}); pass an nnet1 model dir "
                      f"(final.nnet)")
