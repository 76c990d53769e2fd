#!/usr/bin/env python3
"""``make demo-model``: regenerate models/demo from nothing, and say how long it took.

Makes an espeak-ng corpus in a temporary work dir (or ``--work DIR``, kept and reused),
trains the network (deepbrain.training), tests it on the held-out voices and writes the
model dir with its examples and README. Seeded and deterministic; pin the BLAS threads
(the Makefile sets OPENBLAS_NUM_THREADS=1) for byte-identical output.

example: python scripts/make_demo_model.py --out models/demo
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

from deepbrain.errors import DeepbrainError  # noqa: E402
from deepbrain.training import RecipeConfig, TrainConfig, make_model  # noqa: E402
from deepbrain.training.report import render_readme  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    d, t = RecipeConfig(), TrainConfig()
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
    p.add_argument("--traceback", action="store_true", help="show the full trace on errors")
    return p


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
                              train=TrainConfig(hidden_layers=args.layers,
                                                hidden_units=args.units, epochs=args.epochs,
                                                seed=args.seed))
        with tempfile.TemporaryDirectory(prefix="deepbrain-demo-") as tmp:
            work = args.work or Path(tmp)
            print(f"making {args.out} from a {config.utts}-utterance corpus in {work}",
                  flush=True)
            r = make_model(args.out, work, config, progress, on_epoch=on_epoch,
                           readme=render_readme)
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
