"""``deepbrain build-map``: the per-layer maps, from a phone-labelled corpus, a corpus
without labels (``--unlabelled``) or an activity-patterns file. Wired into
:mod:`deepbrain.cli` by :func:`add_parser`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import DeepbrainError


def add_parser(sub) -> None:
    from .cli import CMD_HELP, _layer_list

    m = sub.add_parser("build-map", help="make the per-layer maps (t-SNE + Delaunay) from a "
                       "phone-labelled corpus, or from an activity-patterns file",
                       description="Writes OUT/lda/K/{vertices,indices,activities,units.csv,"
                       "regions.json,summary.json[,map.png]} per hidden layer K; with "
                       "--unlabelled, OUT/lda/K/{vertices,indices,summary.json}.")
    m.add_argument("--model", help="the model directory")
    m.add_argument("--data", help="a Kaldi data dir (wav.scp) of the corpus")
    m.add_argument("--labels", help="per-frame phone ids: an int-vector ark/scp (as "
                   "ali-to-phones --per-frame=true writes), or a Kaldi alignment dir")
    m.add_argument("--phones", help="phones.txt for the labels (default: beside the labels, "
                   "else the model's)")
    m.add_argument("--patterns", help="instead of model/data/labels: a units x phones "
                   "activity-patterns text file (like the seed's 'activities')")
    m.add_argument("--unlabelled", action="store_true", help="no labels (any nnet1 or nnet3 "
                   "model, e.g. Vosk's): units placed by how alike their activations move over "
                   "the corpus; writes vertices, indices, summary.json (no phones, no regions)")
    m.add_argument("--layer", type=int, default=1, help="with --patterns: the layer it is")
    m.add_argument("--out", required=True, help="where lda/K/ go (may be the model dir)")
    m.add_argument("--layers", type=_layer_list, default=(), metavar="1,3")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--perplexity", type=float, default=30.0)
    m.add_argument("--tsne-iterations", type=int, default=500, metavar="N",
                   help="t-SNE steps, 250..100000 (default 500; scikit-learn's own default "
                   "1000 gives about the same maps in twice the time)")
    m.add_argument("--alpha", type=float, default=0.01, help="PSI test level")
    m.add_argument("--keep-silence", action="store_true", help="keep silence as a phone")
    m.add_argument("--engine", default="auto", choices=("auto", "numpy", "kaldi"))
    m.add_argument("--nj", type=int, default=1, help="parallel jobs (processes of one "
                   "thread each; with the Kaldi engine, its jobs)")
    m.add_argument("--cmd", help=CMD_HELP)
    m.add_argument("--plot", action="store_true", help="also write lda/K/map.png")
    m.add_argument("--force", action="store_true", help="replace existing maps")
    m.add_argument("-q", "--quiet", action="store_true", help="no progress or engine messages")


def commands() -> dict:
    return {"build-map": cmd_build_map}


def cmd_build_map(args) -> int:
    from .cli import _check_cmd, _show_progress
    from .maps.build import MapOptions, build_from_patterns, build_maps

    opts = MapOptions(seed=args.seed, perplexity=args.perplexity, alpha=args.alpha,
                      plot=args.plot, iterations=args.tsne_iterations)
    out = Path(args.out)
    if args.patterns:
        if args.model or args.data or args.labels:
            raise DeepbrainError("--patterns stands alone: drop --model, --data and --labels")
        names = None
        if args.phones:
            from .maps.labels import read_phone_set
            names = read_phone_set(args.phones, keep_silence=args.keep_silence).names
        s = build_from_patterns(Path(args.patterns), out, args.layer, opts, names, args.force)
        print(f"layer {s['layer']}: {s['units']} units over {len(s['phones'])} phones, "
              f"neighbour keeping {s['neighbour_keeping']:.3f} -> {out / 'lda' / str(s['layer'])}")
        return 0
    if args.nj < 1:
        raise DeepbrainError(f"--nj must be at least 1, got {args.nj}")
    if args.unlabelled:
        return _build_map_unlabelled(args, opts, out)
    if not (args.model and args.data and args.labels):
        raise DeepbrainError("build-map needs --model, --data and --labels (or --patterns, "
                             "or --unlabelled without --labels)")
    import tempfile

    from .maps.labels import labels_from_alignment, read_labels, read_phone_set
    from .model import load_model
    from .nnet3model import nnet3_dir, not_yet
    from .pipeline import check_layers, read_wav_scp, select_engine

    if nnet3_dir(args.model):
        raise not_yet(args.model, "build-map with --labels maps", "build-map --unlabelled")
    _check_cmd(args.cmd, select_engine(args.engine).name)
    model = load_model(args.model)
    layers = check_layers(args.layers, model)
    utts = read_wav_scp(Path(args.data) / "wav.scp")
    labels_path = Path(args.labels)
    with tempfile.TemporaryDirectory(prefix="deepbrain-ali-") as work:
        phones_txt = args.phones
        if labels_path.is_dir():
            labels_path, found = labels_from_alignment(labels_path, Path(work))
            phones_txt = phones_txt or found
        labels = read_labels(labels_path)
    if phones_txt is None:
        beside = Path(args.labels).parent / "phones.txt"
        phones_txt = beside if beside.is_file() else Path(args.model) / "phones.txt"
    phones = read_phone_set(phones_txt, keep_silence=args.keep_silence)
    progress = None if args.quiet or not sys.stderr.isatty() else _show_progress
    summaries = build_maps(model, utts, labels, phones, str(args.labels), out, layers, opts,
                           args.engine, args.nj, args.force, progress, cmd=args.cmd)
    if progress:
        print(file=sys.stderr)
    for k, s in summaries.items():
        print(f"layer {k}: {s['units']} units, mean PSI {s['mean_psi']:.2f}, selective "
              f"{100 * s['selective_share']:.1f} %, neighbour keeping "
              f"{s['neighbour_keeping']:.3f}")
    print(f"maps -> {out / 'lda'}")
    return 0


def _build_map_unlabelled(args, opts, out: Path) -> int:
    """build-map --unlabelled: maps of an nnet1 or nnet3 model from a corpus without labels."""
    from .cli import _check_cmd, _show_progress
    from .maps.unlabelled import build_unlabelled_maps
    from .model import load_any_model
    from .pipeline import check_layers, read_wav_scp, select_engine

    extra = [o for o, given in (("--labels", args.labels), ("--phones", args.phones),
                                ("--keep-silence", args.keep_silence), ("--plot", args.plot))
             if given]
    if extra:
        raise DeepbrainError(f"--unlabelled maps units without phones: drop {', '.join(extra)}")
    if not (args.model and args.data):
        raise DeepbrainError("build-map --unlabelled needs --model and --data")
    _check_cmd(args.cmd, select_engine(args.engine).name)
    model = load_any_model(args.model)
    layers = check_layers(args.layers, model)
    utts = read_wav_scp(Path(args.data) / "wav.scp")
    progress = None if args.quiet or not sys.stderr.isatty() else _show_progress
    summaries = build_unlabelled_maps(model, utts, out, layers, opts, args.engine, args.nj,
                                      args.force, progress, cmd=args.cmd)
    if progress:
        print(file=sys.stderr)
    names = getattr(model, "layer_names", None)
    for k, s in summaries.items():
        name = f" ({names[k - 1]})" if names else ""
        print(f"layer {k}{name}: {s['units']} units, {len(s['dead_units'])} constant, mean "
              f"|r| {s['mean_abs_correlation']:.3f}, neighbour keeping "
              f"{s['neighbour_keeping']:.3f}")
    print(f"maps -> {out / 'lda'} ({next(iter(summaries.values()))['frames']} frames, "
          f"{len(utts)} utterances)")
    return 0
