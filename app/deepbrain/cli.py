"""The ``deepbrain`` command: a thin argparse layer over the library.

``main(argv) -> int`` is the one boundary where errors become one line on stderr and an exit
code (see :mod:`deepbrain.errors`); ``--traceback`` shows the full trace instead.
"""

from __future__ import annotations

import argparse
import re
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __version__
from .console import GuardedStdout, StdoutError, reader_gone, say, silence_stdout
from .errors import DeepbrainError, OutputError
from .interrupts import exit_code as interrupt_exit_code, signals_as_interrupts


MAX_LAYERS = 10000  # far more hidden layers than any nnet1 model has


_NODE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _layer_list(text: str) -> tuple[int | str, ...]:
    """``1,3`` or ``2-5`` or a mix; nnet3 node names too (``tdnn1.relu,tdnnf5.relu``);
    ``all`` gives an empty tuple (meaning every layer).

    Ranges are counted before they are expanded, so ``1-999999999`` is refused at once
    instead of building a billion numbers; the model is checked later (check_layers, which
    also turns node names into layer numbers)."""
    if text == "all":
        return ()
    ranges: list[tuple[int, int]] = []
    names: list[str] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit() and (not hi or hi.isdigit()):
            ranges.append((int(lo), int(hi or lo)))
        elif _NODE_NAME.fullmatch(part) and not part[0].isdigit():
            names.append(part)
        else:
            raise argparse.ArgumentTypeError(
                f"expected layer numbers like 1,3 or 2-5 (or an nnet3 model's node names, as "
                f"'deepbrain info MODEL' lists them), got {text!r}")
    for lo, hi in ranges:
        if lo < 1:
            raise argparse.ArgumentTypeError(f"layer numbers start at 1, got {text!r}")
        if hi < lo:
            raise argparse.ArgumentTypeError(f"the range {lo}-{hi} in {text!r} runs backwards; "
                                             f"write {hi}-{lo}")
    if sum(hi - lo + 1 for lo, hi in ranges) > MAX_LAYERS:
        raise argparse.ArgumentTypeError(f"{text!r} lists more than {MAX_LAYERS} layers, more "
                                         f"than any network has; 'deepbrain info MODEL' shows "
                                         f"its layers")
    numbers = sorted({k for lo, hi in ranges for k in range(lo, hi + 1)})
    return tuple(numbers) + tuple(dict.fromkeys(names))


CMD_HELP = ("Kaldi engine: how its --nj jobs run, as in Kaldi's cmd.sh, e.g. 'slurm.pl --mem "
            "2G' (default: kaldi_recipes/cmd.sh; see kaldi_recipes/README.md)")


def _check_cmd(cmd: str | None, engine: str) -> None:
    """``--cmd`` is the user's own job command (like Kaldi's cmd.sh); it only means something
    to the Kaldi engine."""
    if cmd is None:
        return
    if not cmd.strip():
        raise DeepbrainError("--cmd is empty; give e.g. --cmd run.pl or --cmd 'slurm.pl "
                             "--mem 2G', or leave it out to use kaldi_recipes/cmd.sh")
    if engine != "kaldi":
        raise DeepbrainError(f"--cmd runs the Kaldi engine's jobs, but the engine is {engine}; "
                             f"add --engine kaldi (with KALDI_ROOT set) or drop --cmd")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepbrain", description="What the hidden layers of a "
                                "Kaldi nnet1 or nnet3 acoustic model do while someone speaks.")
    p.add_argument("--version", action="version", version=f"deepbrain {__version__}")
    p.add_argument("--traceback", action="store_true", help="show the full trace on errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser("activations", help="run wavs through a model, write every hidden "
                       "layer as Kaldi arks",
                       description="Writes OUT/layerK.ark + OUT/layerK.scp per hidden layer "
                       "(binary Kaldi arks keyed by utterance id), utt2num_frames and "
                       "summary.json.")
    a.add_argument("wavs", nargs="*", metavar="WAV", help="wav files (utterance id = file stem)")
    a.add_argument("--scp", help="a Kaldi wav.scp instead of WAV arguments")
    a.add_argument("--utt2spk", help="with --scp: speakers, for per-speaker CMVN")
    a.add_argument("--model", help="the model directory (default: the demo model that "
                   "ships with deepbrain; see deepbrain models)")
    a.add_argument("--engine", default="auto", choices=("auto", "numpy", "kaldi"))
    a.add_argument("--layers", type=_layer_list, default=(), metavar="1,3",
                   help="hidden layers to write: numbers (1,3 or 2-5) or an nnet3 model's "
                   "node names (default: all)")
    a.add_argument("--out", required=True, help="output directory")
    a.add_argument("--output", action="store_true",
                   help="also write the network output (posteriors) as output.ark")
    a.add_argument("--keep-intermediate", action="store_true", help="also write each stage's "
                   "output (feats, cmvn, cmvn_feats, spliced, transformed, nnet_input)")
    a.add_argument("--force", action="store_true", help="replace results already in --out")
    a.add_argument("--resample", action="store_true",
                   help="resample wavs whose rate differs from the model's")
    a.add_argument("--channel", type=int, help="channel (0-based) to take from multi-channel wavs")
    a.add_argument("--nj", type=int, default=1, help="Kaldi engine: parallel jobs (default 1)")
    a.add_argument("--cmd", help=CMD_HELP)
    a.add_argument("--ivectors", metavar="ARK_OR_SCP", help="nnet3 models: online i-vectors "
                   "made elsewhere (as ivector-extract-online2 writes them, keyed by utterance "
                   "id) instead of the model's extractor")
    a.add_argument("--ivector-period", type=int, metavar="N", help="with --ivectors: frames "
                   "per i-vector (default 10)")
    a.add_argument("--keep-workdir", metavar="DIR",
                   help="Kaldi engine: keep its work dir (data dir, logs, arks) in DIR")
    a.add_argument("-q", "--quiet", action="store_true", help="no progress or engine messages")

    i = sub.add_parser("info", help="validate a model directory and describe it")
    i.add_argument("model", nargs="?", help="the model directory (default: the demo model)")

    sub.add_parser("models", help="where the models that ship with deepbrain are")

    from .cli_maps import add_parser as add_build_map_parser
    add_build_map_parser(sub)

    sub.add_parser("doctor", help="what was found: Kaldi binaries, the engine auto picks, "
                   "GUI and recording libraries")

    g = sub.add_parser("gui", help="the window: open or record a wav, watch every layer",
                       description="Opens the window (needs a display; headless: xvfb-run -a). "
                       "With --screenshot, renders --model/--wav at --frame to a PNG and exits; "
                       "with --video, the whole utterance to an MP4.")
    g.add_argument("--model", help="the model directory (default: the last one opened, "
                   "else the demo model)")
    g.add_argument("--wav", help="a wav to open")
    g.add_argument("--engine", default="auto", choices=("auto", "numpy", "kaldi"))
    g.add_argument("--layers", type=_layer_list, default=(), metavar="1,3", help="layers "
                   "shown (default: the model's layers file, else every layer with a map)")
    g.add_argument("--colormap", choices=("jet", "viridis"), help="default: jet")
    g.add_argument("--scale", choices=("frame", "absolute"),
                   help="frame: per-frame max and min-max as the original demo (default)")
    g.add_argument("--alpha", type=float, help="neighbour smoothing 0..1, 0 = off (default 0.5)")
    g.add_argument("--frame", type=int, default=0, help="the frame to show (0-based)")
    g.add_argument("--screenshot", metavar="PNG", help="render to this PNG and exit")
    g.add_argument("--size", default="1280x720", help="window size for --screenshot/--video")
    # insight (issue 11): what is said, where each phone lives, what each unit does
    g.add_argument("--text", help="what is said in --wav: aligned to it for the phone lane "
                   "(needs the aligner: pip install 'deepbrain[align]')")
    g.add_argument("--phones", metavar="FILE", help="the phones of --wav: a CTM, or per-frame "
                   "phone ids as an int-vector ark/scp (with phones.txt beside it or the "
                   "model's)")
    g.add_argument("--acts", metavar="DIR", help="show the layerK.scp in DIR (from deepbrain "
                   "activations or getact.sh) instead of computing them")
    g.add_argument("--regions", action="store_true", help="outline the phone regions, light "
                   "the spoken one, trace each layer's region score")
    g.add_argument("--by-phone", action="store_true",
                   help="colour units by their preferred phone instead of activation")
    g.add_argument("--pin", action="append", default=[], metavar="LAYER:UNIT",
                   help="pin a unit (1-based, as units.csv), e.g. 3:117; may be repeated")
    g.add_argument("--video", metavar="MP4", help="render the utterance to an MP4 (H.264 + "
                   "AAC, real time; needs ffmpeg) at --size and exit")
    g.add_argument("--force", action="store_true", help="replace an existing --screenshot "
                   "PNG or --video")

    from .cli_align import add_parsers as add_align_parsers  # align, evaluate
    add_align_parsers(sub)
    return p


class _HeldWarnings(logging.Handler):
    """Warnings wait until the command ends: shown after a success, dropped after a failure,
    so that a failure is the one line it promises to be."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("deepbrain: warning: %(message)s"))
        self.held: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.held.append(self.format(record))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .cli_align import commands as align_commands
    from .cli_maps import commands as map_commands

    held = _HeldWarnings()
    root = logging.getLogger()
    root.addHandler(held)
    root.setLevel(min(root.level or logging.WARNING, logging.WARNING))
    command = {"activations": cmd_activations, "info": cmd_info, "doctor": cmd_doctor,
               "gui": cmd_gui, "models": cmd_models,
               **align_commands(), **map_commands()}[args.command]
    interrupts = None
    stdout = sys.stdout
    sys.stdout = GuardedStdout(stdout)
    try:
        with signals_as_interrupts() as interrupts:
            code = command(args)
            sys.stdout.flush()  # a full disk is found here, not in the flush at exit
        for line in held.held:
            say(line)
        return code
    except BaseException as e:
        stop = interrupts.as_exception(e) if interrupts is not None else None
        if stop is not None:
            say(f"deepbrain: interrupted ({stop or 'SIGINT'})")
            return interrupt_exit_code(stop)
        if isinstance(e, BrokenPipeError) and reader_gone():
            return 141  # what a shell reports for a command killed by SIGPIPE
        if isinstance(e, StdoutError):
            silence_stdout()
            say(f"deepbrain: error: cannot write to standard output: {e.strerror or e}; "
                f"free some space or send the output elsewhere")
            return OutputError.exit_code
        if not isinstance(e, DeepbrainError) or args.traceback:
            raise
        say(f"deepbrain: error: {e}")
        return e.exit_code
    finally:
        sys.stdout = stdout
        root.removeHandler(held)


def _check_nnet3_options(args, model) -> None:
    """Options that belong to one kind of model only."""
    if model.kind != "nnet3":
        if args.ivectors or args.ivector_period is not None:
            raise DeepbrainError(f"--ivectors and --ivector-period are for nnet3 models, but "
                                 f"{model.path} is an nnet1 model; drop them")
        return
    if args.keep_intermediate:
        raise DeepbrainError(f"--keep-intermediate writes the stages of an nnet1 front end; "
                             f"{model.path} is an nnet3 model (not yet supported); drop it")
    if args.ivectors and not model.takes_ivectors:
        raise DeepbrainError(f"--ivectors given, but {model.network_file} has no ivector "
                             f"input; drop --ivectors")


def cmd_activations(args) -> int:
    from .model import load_any_model
    from .pipeline import Request, check_layers, read_wav_scp, select_engine, \
        stream_activations, utterances_from_wavs
    from .results import ResultsWriter, check_output_dir

    if bool(args.wavs) == bool(args.scp):
        raise DeepbrainError("give either WAV files or --scp wav.scp (not both, not neither)")
    if args.utt2spk and not args.scp:
        raise DeepbrainError("--utt2spk goes with --scp")
    if args.nj < 1:
        raise DeepbrainError(f"--nj must be at least 1, got {args.nj}")
    started = time.monotonic()
    writer = ResultsWriter(args.out, force=args.force)  # refuses before any work is done
    keep_workdir = Path(args.keep_workdir).absolute() if args.keep_workdir else None
    if keep_workdir is not None:
        check_output_dir(keep_workdir, "--keep-workdir")
    if args.ivector_period is not None and not args.ivectors:
        raise DeepbrainError("--ivector-period goes with --ivectors")
    if args.ivector_period is not None and args.ivector_period < 1:
        raise DeepbrainError(f"--ivector-period must be at least 1, got {args.ivector_period}")
    utts = read_wav_scp(args.scp, args.utt2spk) if args.scp else utterances_from_wavs(args.wavs)
    args.model = _model_or_demo(args.model, args.quiet)
    model = load_any_model(args.model, per_speaker_cmvn=bool(args.utt2spk),
                           ivectors_given=bool(args.ivectors))
    _check_nnet3_options(args, model)
    layers = check_layers(args.layers, model)
    request = Request(layers, output=args.output, keep_intermediate=args.keep_intermediate,
                      channel=args.channel, resample=args.resample, nj=args.nj,
                      keep_workdir=keep_workdir, cmd=args.cmd,
                      ivectors=Path(args.ivectors) if args.ivectors else None,
                      ivector_period=args.ivector_period)
    choice = select_engine(args.engine)
    _check_cmd(args.cmd, choice.name)
    if keep_workdir is not None and choice.name != "kaldi":
        raise DeepbrainError(f"--keep-workdir keeps the Kaldi engine's work dir, but the engine "
                             f"is {choice.name} ({choice.reason}); drop --keep-workdir or use "
                             f"--engine kaldi")
    if not args.quiet:
        print(f"deepbrain: engine {choice.name}: {choice.reason}", file=sys.stderr)
    progress = None if args.quiet or not sys.stderr.isatty() else _show_progress
    frames = 0
    with writer:
        for chunk in stream_activations(utts, model, request, choice, progress=progress):
            writer.write_chunk(chunk)
            frames += chunk.rows
        if progress:
            print(file=sys.stderr)
        seconds = time.monotonic() - started
        units = {k: model.hidden_dims[k - 1] for k in layers}
        summary = {
            "deepbrain": __version__, "model": str(Path(args.model).absolute()),
            "engine": choice.name, "utterances": len(utts), "frames": frames,
            "frame_shift": model.frame_shift, "layers": {str(k): u for k, u in units.items()},
            "seconds": round(seconds, 3)}
        if model.kind == "nnet3":
            summary.update(_nnet3_summary(model, layers, request))
        out = writer.finish(summary)
    for line in writer.recovered:
        print(f"deepbrain: {out}: {line}", file=sys.stderr)
    unit_text = ", ".join(f"{k}:{u}" for k, u in units.items())
    print(f"{len(utts)} utterance(s), {frames} frames ({frames * model.frame_shift:.2f} s of "
          f"speech), {len(layers)} layer(s) (units {unit_text}), engine {choice.name}, "
          f"{seconds:.2f} s -> {out}")
    return 0


def _nnet3_summary(model, layers, request) -> dict:
    """What summary.json records of an nnet3 model: the layers' node names and where the
    i-vectors came from."""
    ivectors = None
    if request.ivectors is not None:
        ivectors = f"given: {Path(request.ivectors).absolute()}"
    elif model.takes_ivectors:
        ivectors = f"online, {model.files.ivector.origin}"
    return {"model_kind": "nnet3", "network": str(model.network_file.absolute()),
            "layer_names": {str(k): model.layer_names[k - 1] for k in layers},
            "frame_subsampling_factor": model.net.frame_subsampling_factor,
            "frames_per_chunk": 50, "ivectors": ivectors}


def _show_progress(p) -> None:
    print(f"\r{p.stage:<9} {p.done}/{p.total} {p.utt_id[:40]:<40}", end="", file=sys.stderr,
          flush=True)


def _model_or_demo(model: str | None, quiet: bool = True) -> str:
    """``model``, or the demo model that ships with deepbrain (saying so unless quiet)."""
    if model:
        return model
    from .resources import demo_model_dir

    demo = demo_model_dir()
    if not quiet:
        print(f"deepbrain: no --model given: using the demo model at {demo}", file=sys.stderr)
    return str(demo)


def cmd_models(args) -> int:
    from .resources import demo_model_dir

    demo = demo_model_dir()
    print(f"demo       {demo}")
    print("           used when no --model is given; `deepbrain info` describes it, "
          "its README.md says how it was made")
    return 0


def cmd_info(args) -> int:
    from .model import load_model
    from .nnet3model import nnet3_dir

    if nnet3_dir(args.model, strict=False):
        return _info_nnet3(args.model)
    demo = not args.model
    m = load_model(_model_or_demo(args.model))
    print(f"model      {m.path}" + ("  (the demo model that ships with deepbrain)" if demo
                                    else ""))
    fe = m.frontend
    print(f"front end  {m.sample_rate} Hz, as "
          + ("steps/nnet/decode.sh reads a Kaldi dir (final.mdl)" if fe.kaldi_dir else
             "the original demo's getact.sh (no final.mdl)") + "; getact.sh runs the same:")
    for line in fe.describe(dims=True):
        print(f"  {line}")
    if fe.stage("cmvn") or fe.stage("online-cmvn"):
        print("           CMVN statistics per utterance (per speaker with --utt2spk)")
    if m.feature_transform is not None:
        ft = m.feature_transform
        print(f"transform  final.feature_transform {ft.input_dim} -> {ft.output_dim} ("
              + " ".join(c.marker.strip("<>") for c in ft.components) + ")")
    print(f"network    final.nnet {m.nnet.input_dim} -> {m.nnet.output_dim}, "
          f"{len(m.nnet.components)} components, {m.num_hidden} hidden layers")
    for k, (ci, units) in enumerate(zip(m.nnet.hidden_layer_components, m.hidden_dims), 1):
        kind = m.nnet.components[ci].marker.strip("<>")
        mp = m.maps.get(k)
        where = (f"map {mp.num_units} points, {mp.triangles.shape[0]} triangles" if mp
                 else "no map")
        print(f"  layer {k}  {units:5d} units  {kind:<14} {where}")
    print(f"output     {m.nnet.components[-1].marker.strip('<>')} over {m.nnet.output_dim}"
          + (" (class-frame counts present)" if m.class_frame_counts is not None else ""))
    if m.default_layers:
        print(f"shows      layers {m.default_layers[0]}-{m.default_layers[-1]} by default")
    return 0


def _info_nnet3(path: str) -> int:
    from .nnet3.modeldir import find_nnet3_model
    from .nnet3model import load_nnet3_model

    # A dir with no extractor at all still works with --ivectors: described, not refused.
    found = find_nnet3_model(path)
    no_extractor = found.ivector is None and not found.missing
    m = load_nnet3_model(path, ivectors_given=no_extractor)
    net = m.net
    print(f"model      {m.path}")
    print(f"kind       nnet3 ({m.network_file.relative_to(m.path)}), {m.num_hidden} hidden "
          f"layers; getact_nnet3.sh runs the same")
    for line in m.describe():
        print(f"  {line}")
    mfcc = f"MFCC {net.input_dim} dims ({m.sample_rate} Hz, {m.features.frame_shift:g} ms)"
    iv = (f", i-vector {net.ivector_dim} dims every {m.ivector_period} frames"
          if m.takes_ivectors else ", no i-vector input")
    print(f"input      {mfcc}{iv}")
    if m.takes_ivectors and no_extractor:
        print("           no i-vector extractor in the dir: pass i-vectors with --ivectors")
    print(f"context    {net.left_context} frames left, {net.right_context} right; layers at "
          f"every frame (frame subsampling factor {net.frame_subsampling_factor} not applied)")
    for k, (name, units) in enumerate(zip(m.layer_names, m.hidden_dims), 1):
        left, right = net.context((name,))
        mapped = f"  map {m.maps[k].num_units} points" if k in m.maps else ""
        print(f"  layer {k:<2} {units:5d} units  {name:<24} context -{left}/+{right}{mapped}")
    print(f"output     {net.output_dim}" + (" (priors present)" if net.priors is not None
                                             and net.priors.size else ""))
    print("maps       " + (f"lda/ for layers {', '.join(map(str, sorted(m.maps)))}: deepbrain "
                           f"gui shows them" if m.maps else "none: make them with deepbrain "
                           "build-map --unlabelled (no phone labels: nnet3 maps have no "
                           "regions)"))
    return 0


def cmd_doctor(args) -> int:
    import importlib.util

    from .engines import kaldi_engine
    from .pipeline import select_engine

    kaldi = kaldi_engine.find_kaldi()
    if kaldi is None:
        print("kaldi      not found (set KALDI_ROOT to a Kaldi checkout with src/featbin, "
              "src/nnetbin, src/bin built)")
    else:
        print(f"kaldi      {kaldi.where}")
        for name in kaldi_engine.BINARIES:
            print(f"  {name:<20} {kaldi.binaries.get(name, 'MISSING')}")
        for name in kaldi_engine.UTILS:
            print(f"  utils/{name:<14} {kaldi.utils.get(name, 'MISSING')}")
        for name in kaldi_engine.NNET3:  # getact_nnet3.sh's (nnet3 models only)
            print(f"  {name:<20} {kaldi.binaries.get(name, 'MISSING (nnet3 models only)')}")
    from .resources import demo_model_dir, recipes_dir

    for name, where in (("recipes", recipes_dir), ("demo model", demo_model_dir)):
        try:
            print(f"{name:<10} {where()}")
        except DeepbrainError as e:
            print(f"{name:<10} {e}")
    choice = select_engine("auto")
    print(f"auto       engine {choice.name}: {choice.reason}")
    gui = [m for m in ("PyQt5", "pyqtgraph", "OpenGL") if importlib.util.find_spec(m) is None]
    print("gui        " + ("ready (PyQt5, pyqtgraph, PyOpenGL)" if not gui else
                           f"missing {', '.join(gui)}: pip install -e '.[gui]'"))
    from .corpus import why_unavailable
    corpus = why_unavailable()
    print("corpus     " + ("ready (espeak-ng, sentences)" if corpus is None else
                           f"{corpus}: apt-get install espeak-ng libespeak-ng1 wordnet-base"))
    rec = importlib.util.find_spec("pyaudio") is not None
    print("record     " + ("ready (pyaudio)" if rec else "missing pyaudio: apt-get install "
                           "portaudio19-dev, then pip install -e '.[record]'"))
    return 0


def cmd_gui(args) -> int:
    try:  # imported here: the rest of the CLI never imports Qt
        from .gui.app import run
    except ImportError as e:
        raise DeepbrainError(f"the GUI needs PyQt5, pyqtgraph and PyOpenGL ({e}): "
                             f"pip install -e '.[gui]'") from None
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
