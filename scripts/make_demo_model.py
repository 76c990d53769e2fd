#!/usr/bin/env python3
"""``make demo-model``: regenerate models/demo from nothing, and say how long it took.

Makes the many-voiced corpus (espeak-ng, Festival, Flite, augmented) in a temporary work
dir (or ``--work DIR``, kept and reused), trains the network (deepbrain.training), tests it
on the held-out voices, scores it on real recorded speech from Debian packages
(scripts/real_speech.py: evaluation only, never training) and writes the model dir with its
examples, pictures (training curve, confusion matrices) and README. Seeded and
deterministic; pin the BLAS threads (the Makefile sets OPENBLAS_NUM_THREADS=1) for
byte-identical model files.

example: python scripts/make_demo_model.py --out models/demo
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

from deepbrain.errors import DeepbrainError  # noqa: E402
from deepbrain.training import RecipeConfig, make_model  # noqa: E402
from deepbrain.training.report import plot_training, render_readme  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    d = RecipeConfig()
    t = d.train
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="example: python scripts/make_demo_model.py "
                                       "--out models/demo")
    p.add_argument("--out", type=Path, default=ROOT / "models" / "demo",
                   help="model dir to (re)write (default models/demo)")
    p.add_argument("--work", type=Path, help="keep the corpus here (default: a temp dir)")
    p.add_argument("--utts", type=int, default=d.utts, help=f"corpus size (default {d.utts})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed (default {d.seed})")
    p.add_argument("--epochs", type=int, default=t.epochs,
                   help=f"at most this many epochs (default {t.epochs})")
    p.add_argument("--layers", type=int, default=t.hidden_layers,
                   help=f"hidden layers (default {t.hidden_layers})")
    p.add_argument("--units", type=int, default=t.hidden_units,
                   help=f"units per hidden layer (default {t.hidden_units})")
    p.add_argument("--workers", type=int, default=d.workers,
                   help=f"corpus synthesis processes (default {d.workers})")
    p.add_argument("--corpus", default=d.corpus, choices=("voices", "espeak"),
                   help=f"corpus kind (default {d.corpus})")
    p.add_argument("--copies", type=int, default=d.copies,
                   help=f"versions of each train utterance: as it is and perturbed (VTLP, "
                        f"silences; default {d.copies})")
    p.add_argument("--trainer", default=t.backend, choices=("torch", "numpy"),
                   help=f"torch (the train extra) or numpy (default {t.backend})")
    p.add_argument("--dropout", type=float, default=t.dropout,
                   help=f"dropout on the hidden outputs while training, torch only "
                        f"(default {t.dropout:g})")
    p.add_argument("--no-real", action="store_true",
                   help="skip the real-speech evaluation (scripts/real_speech.py)")
    p.add_argument("--traceback", action="store_true", help="show the full trace on errors")
    return p


MAPS_EVERY = 3  # build-map's corpus: every 3rd train utterance (time; the maps stay stable)


def maps_data(work: Path) -> Path:
    """``WORK/maps-data``: a data dir of every MAPS_EVERY-th train utterance (wav.scp,
    phones.scp, phones.txt) for deepbrain build-map."""
    train, d = work / "corpus" / "train", work / "maps-data"
    d.mkdir(parents=True, exist_ok=True)
    for name in ("wav.scp", "phones.scp"):
        lines = (train / name).read_text().splitlines(keepends=True)
        (d / name).write_text("".join(lines[::MAPS_EVERY]))
    (d / "phones.txt").write_text((work / "corpus" / "phones.txt").read_text())
    return d


def _after_training(r, work: Path, skip_real: bool) -> tuple[dict | None, dict]:
    """The pictures and the real-speech figures for the README: the training curve, the
    confusion matrix on the held-out voices (deepbrain evaluate) and on real speech."""
    import json

    from deepbrain.cli import main as deepbrain

    out = Path(r.model_dir)
    plot_training(r.epochs, out / "training.png")
    pictures = {"training": "training.png"}
    test = work / "corpus" / "test"
    code = deepbrain(["evaluate", "--model", str(out), "--data", str(test), "--labels",
                      str(test / "phones.scp"), "--plot", str(out / "confusion-synthetic.png"),
                      "--title", "held-out synthetic voices"])
    if code == 0:
        pictures["confusion-synthetic"] = "confusion-synthetic.png"
    if skip_real:
        return None, pictures
    sys.path.insert(0, str(ROOT / "scripts"))
    import real_speech

    started = time.monotonic()
    code = real_speech.main(["--model", str(out), "--work", str(work / "real-speech"),
                             "--out", str(out)])
    print(f"real speech scored in {time.monotonic() - started:.0f} s", flush=True)
    if code != 0 or not (out / "real-speech.json").is_file():
        print("make_demo_model: no real-speech figures (see above)", file=sys.stderr)
        return None, pictures
    pictures["confusion-real"] = "confusion-real.png"
    return json.loads((out / "real-speech.json").read_text()), pictures


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    tty = sys.stderr.isatty()

    def progress(p) -> None:
        if tty:
            print(f"\r{p.stage} {p.done}/{p.total}\033[K", end="", file=sys.stderr, flush=True)

    def on_epoch(e) -> None:
        if tty:
            print("\r\033[K", end="", file=sys.stderr)
        if e.epoch == 0:
            print(f"epoch 0: valid loss {e.valid_loss:.3f} acc {100 * e.valid_accuracy:.1f} %",
                  flush=True)
            return
        print(f"epoch {e.epoch}: lr {e.learn_rate:g}  train loss {e.train_loss:.3f} "
              f"acc {100 * e.train_accuracy:.1f} %  valid loss {e.valid_loss:.3f} "
              f"acc {100 * e.valid_accuracy:.1f} %  {e.seconds:.0f} s"
              f"{'' if e.accepted else '  (rejected)'}", flush=True)

    try:
        config = RecipeConfig(utts=args.utts, seed=args.seed, workers=args.workers,
                              corpus=args.corpus, copies=args.copies,
                              train=replace(RecipeConfig().train, hidden_layers=args.layers,
                                            hidden_units=args.units, epochs=args.epochs,
                                            seed=args.seed, backend=args.trainer,
                                            dropout=args.dropout))
        with tempfile.TemporaryDirectory(prefix="deepbrain-demo-") as tmp:
            work = args.work or Path(tmp)
            print(f"making {args.out} from a {config.utts}-utterance corpus in {work}",
                  flush=True)
            r = make_model(args.out, work, config, progress, on_epoch=on_epoch,
                           readme=render_readme)
            real, pictures = _after_training(r, work, args.no_real)
            maps_data(work)
            (args.out / "README.md").write_text(render_readme(r, real=real,
                                                              pictures=pictures))
    except DeepbrainError as e:
        if args.traceback:
            traceback.print_exc()
        print(f"\nmake_demo_model: {e}", file=sys.stderr)
        return e.exit_code
    if tty:
        print("\r\033[K", end="", file=sys.stderr)
    print(f"test frame accuracy (held-out voices): {100 * r.test.accuracy:.1f} % "
          f"({100 * r.test.speech_accuracy:.1f} % without sil)")
    for s in r.selectivity:
        print(f"layer {s.layer}: {s.selective}/{s.units} units phone-selective "
              f"(p < {s.alpha:g}), {s.strong} strongly (effect >= 0.5), median effect "
              f"{s.median_effect:.3f}")
    print(f"{r.model_dir}: {sum(r.sizes.values()) / 1e6:.1f} MB"
          f"{', maps kept' if r.kept_maps else ''}")
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in r.seconds.items())
    print(f"took {(time.monotonic() - started) / 60:.1f} min ({steps})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
