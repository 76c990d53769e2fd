"""The model directory: the unit a user points deepbrain at.

Layout (the seed system's, loaded unchanged; or a Kaldi steps/nnet dir)::

    final.nnet                 nnet1 network (required; binary or text)
    final.feature_transform    nnet1 run in front of it (optional)
    final.mat                  LDA/MLLT matrix after splicing (optional; then no splice either)
    prior_counts, ali_train_pdf.counts   class-frame counts (optional; as decode.sh picks)
    lda/K/{vertices,indices}   the map of hidden layer K (optional, per layer)
    conf/mfcc.conf or conf/fbank.conf, cmvn_opts, online_cmvn_opts (+ global_cmvn_stats.mat),
    delta_opts, splice_opts    the front end (see frontend.py)
    final.mdl                  marks a Kaldi steps/nnet dir (its front-end conventions)
    layers                     how many layers a viewer shows by default (optional)
    phones.txt                 phone symbol table (optional)

:func:`load_model` checks everything and reports every problem at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .errors import DeepbrainError, ModelError
from .frontend import FrontEnd, read_frontend
from .kaldi_formats import read_vector_file
from .layermap import LayerMap, read_layer_map
from .nnet1 import Nnet, read_nnet
from .options import CmvnOptions, FramedOptions, SpliceOptions


@dataclass(frozen=True, eq=False)
class Model:
    path: Path
    nnet: Nnet
    feature_transform: Nnet | None
    frontend: FrontEnd
    class_frame_counts: np.ndarray | None
    maps: Mapping[int, LayerMap] = field(default_factory=lambda: MappingProxyType({}))
    default_layers: tuple[int, ...] = ()
    phones: tuple[str, ...] | None = None

    kind = "nnet1"

    def layer_marker(self, k: int) -> str:
        """Layer ``k``'s nonlinearity as nnet1 writes it (``<Sigmoid>``): its natural range
        for the colours."""
        return self.nnet.components[self.nnet.hidden_layer_components[k - 1]].marker

    def layer_title(self, k: int) -> str:
        return f"Layer {k} \u00b7 {self.hidden_dims[k - 1]} " \
               f"{self.layer_marker(k).strip('<>').lower()}"

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The stages a wav goes through, as the engines report their progress."""
        return tuple(s.name for s in self.frontend.stages) + ("forward",)

    @property
    def network_file(self) -> Path:
        return self.path / "final.nnet"

    @property
    def num_hidden(self) -> int:
        return len(self.nnet.hidden_layer_components)

    @property
    def hidden_dims(self) -> tuple[int, ...]:
        return self.nnet.hidden_dims

    @property
    def features(self) -> FramedOptions:
        """The feature extraction's options (compute-mfcc-feats or compute-fbank-feats)."""
        return self.frontend.features

    mfcc = features  # the name the seed's MFCC-only front end gave it

    @property
    def cmvn(self) -> CmvnOptions | None:
        """Offline CMVN (apply-cmvn) when the front end has it."""
        return self.frontend.cmvn

    @property
    def per_speaker(self) -> bool:
        """Whether statistics (offline or online CMVN) run over a speaker's utterances."""
        return self.frontend.per_speaker

    @property
    def transform(self) -> np.ndarray | None:
        """final.mat, when the front end has it."""
        s = self.frontend.stage("transform")
        return s.options if s is not None else None

    @property
    def splice(self) -> SpliceOptions | None:
        s = self.frontend.stage("splice")
        return s.options if s is not None else None

    @property
    def sample_rate(self) -> int:
        return self.frontend.sample_rate

    @property
    def frame_shift(self) -> float:
        """Seconds between frames."""
        return self.frontend.frame_shift


def load_model(directory: str | os.PathLike, per_speaker_cmvn: bool = False) -> Model:
    """Load and validate a model directory; a :class:`ModelError` lists every problem."""
    d = Path(directory)
    if not d.is_dir():
        raise ModelError(f"{d}: not a directory; pass --model with a Kaldi nnet1 model dir "
                         f"(final.nnet, final.feature_transform, final.mat, ...)")
    from .nnet3model import nnet3_dir, not_yet

    if nnet3_dir(d):
        raise not_yet(d, "this part of deepbrain (labelled maps, evaluate) reads",
                      "build-map --unlabelled, gui")
    problems: list[str] = []

    def attempt(fn, *args):
        try:
            return fn(*args)
        except DeepbrainError as e:
            problems.append(str(e))
            return None

    nnet = attempt(read_nnet, d / "final.nnet") if (d / "final.nnet").is_file() else None
    if nnet is None and not (d / "final.nnet").is_file():
        problems.append(f"{d / 'final.nnet'}: missing (the nnet1 network is required)")
    if nnet is not None and not nnet.hidden_layer_components:
        problems.append(f"{d / 'final.nnet'}: has no hidden layer (its components: "
                        f"{' '.join(c.marker for c in nnet.components)}); deepbrain shows what "
                        f"hidden layers do, so the network needs a <Sigmoid>, <Tanh> or "
                        f"<ParametricRelu> layer before its output")
    ft = attempt(read_nnet, d / "final.feature_transform") \
        if (d / "final.feature_transform").is_file() else None
    counts_file = next((d / f for f in ("prior_counts", "ali_train_pdf.counts")
                        if (d / f).is_file()), None)  # as steps/nnet/decode.sh picks them
    counts = attempt(read_vector_file, counts_file, "class-frame counts") \
        if counts_file is not None else None
    frontend = read_frontend(d, per_speaker_cmvn, problems)
    _check_dims(d, nnet, ft, frontend, counts, counts_file, problems)
    maps = load_maps(d, nnet.hidden_dims if nnet is not None else None, "final.nnet",
                      problems)
    default_layers = attempt(_read_layers_file, d / "layers", nnet) or ()
    phones = attempt(_read_phones, d / "phones.txt")
    if problems:
        raise ModelError(f"{d}: {len(problems)} problem(s): " + "; ".join(problems))
    return Model(d, nnet, ft, frontend, counts, MappingProxyType(maps), default_layers, phones)


def load_any_model(directory: str | os.PathLike, per_speaker_cmvn: bool = False,
                   ivectors_given: bool = False):
    """An nnet1 :class:`Model` or, for an nnet3 dir (Kaldi's or Vosk's), an
    :class:`~deepbrain.nnet3model.Nnet3Model`; both checked, every problem listed at once."""
    from .nnet3model import load_nnet3_model, nnet3_dir

    if nnet3_dir(directory, strict=False):
        return load_nnet3_model(directory, ivectors_given)
    return load_model(directory, per_speaker_cmvn)


def _check_dims(d: Path, nnet, ft, frontend: FrontEnd | None, counts, counts_file,
                problems: list[str]) -> None:
    if frontend is None:
        return
    last = frontend.stages[-1]
    dim, what = last.dim, f"the front end's {last.dim} dims ({last.name})"
    for net, name in ((ft, "final.feature_transform"), (nnet, "final.nnet")):
        if net is None:
            continue
        if net.input_dim != dim:
            problems.append(f"{d / name}: takes {net.input_dim} inputs but gets {what}; the "
                            f"front end is: " + ", ".join(s.describe() for s in frontend.stages))
            return
        dim, what = net.output_dim, f"{name}'s {net.output_dim} outputs"
    if nnet is not None and counts is not None and counts.shape[0] != nnet.output_dim:
        problems.append(f"{counts_file}: has {counts.shape[0]} counts for "
                        f"{nnet.output_dim} network outputs")


def load_maps(d: Path, dims: Sequence[int] | None, network: str, problems: list[str]
              ) -> dict[int, LayerMap]:
    """``d/lda/K/`` for each layer K, checked against the network's hidden ``dims`` (None:
    not known); ``network`` names it in the problems."""
    maps: dict[int, LayerMap] = {}
    root = d / "lda"
    if not root.is_dir():
        return maps
    for sub in sorted(root.iterdir(), key=lambda p: (len(p.name), p.name)):
        if not sub.is_dir():
            continue
        if not sub.name.isdigit() or int(sub.name) < 1:
            problems.append(f"{sub}: map folders are named by layer number (1, 2, ...)")
            continue
        k = int(sub.name)
        if dims is not None and k > len(dims):
            problems.append(f"{sub}: a map for layer {k}, but {network} has "
                            f"{len(dims)} hidden layers")
            continue
        try:
            maps[k] = read_layer_map(sub, k, dims[k - 1] if dims is not None else None)
        except DeepbrainError as e:
            problems.append(str(e))
    return maps


def _read_layers_file(path: Path, nnet: Nnet | None) -> tuple[int, ...] | None:
    """The seed's ``layers`` file: how many layers to show (1..N)."""
    if not path.is_file():
        return None
    text = path.read_text(errors="replace").split()
    if len(text) != 1 or not text[0].isdigit() or int(text[0]) < 1:
        raise ModelError(f"{path}: expected one whole number (how many layers to show), "
                         f"found {' '.join(text)[:40]!r}")
    n = int(text[0])
    if nnet is not None:
        n = min(n, len(nnet.hidden_layer_components))
    return tuple(range(1, n + 1))


def _read_phones(path: Path) -> tuple[str, ...] | None:
    """The model's ``phones.txt`` (read as build-map and evaluate read it) with ids 0..N-1;
    the symbols in id order."""
    from .maps.labels import read_symbol_table

    if not path.is_file():
        return None
    table = read_symbol_table(path)
    if sorted(table) != list(range(len(table))):
        raise ModelError(f"{path}: ids are not 0..{len(table) - 1} without gaps")
    return tuple(table[i] for i in range(len(table)))
