"""``python -m deepbrain.corpus OUT --utts N --seed S``: make an espeak-ng corpus and
print a short summary (utterances, minutes of audio, time taken, frame share per phone)."""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Sequence

from ..errors import DeepbrainError
from .espeak import VARIANTS
from .make import HELD_OUT_VOICES, CorpusSummary, make_corpus
from .text import SOURCES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m deepbrain.corpus",
        description="Make a phone-labelled English corpus with espeak-ng as Kaldi data dirs "
                    "(OUT/train, OUT/test with held-out voices).",
        epilog="example: python -m deepbrain.corpus data/espeak --utts 2000 --seed 0")
    p.add_argument("out", help="output directory (must be new or empty)")
    p.add_argument("--utts", type=int, default=100, help="number of utterances (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    p.add_argument("--held-out", default=",".join(HELD_OUT_VOICES),
                   help=f"comma-separated voices for test/ (default {','.join(HELD_OUT_VOICES)};"
                        f" '' for none); voices: {' '.join(VARIANTS)}")
    p.add_argument("--text", choices=SOURCES, default="auto",
                   help="sentence source (default auto: WordNet, else the wamerican list)")
    p.add_argument("--force", action="store_true", help="replace an earlier corpus in OUT")
    p.add_argument("--traceback", action="store_true", help="show the full trace on errors")
    return p


def summary_lines(s: CorpusSummary, k: int = 5) -> list[str]:
    """The summary as text lines (frame share of the k most and least frequent phones)."""
    total = sum(s.phone_frames.values()) or 1
    ranked = sorted(s.phone_frames.items(), key=lambda kv: (-kv[1], kv[0]))
    share = lambda items: ", ".join(f"{p} {100 * n / total:.1f}%" for p, n in items)  # noqa
    splits = ", ".join(f"{n} {name}" for name, n in s.utterances.items())
    return [f"{sum(s.utterances.values())} utterances ({splits}) -> {s.out_dir}",
            f"{s.audio_seconds / 60:.2f} min of audio in {s.seconds_taken:.1f} s "
            f"(espeak-ng {s.espeak_version}, text: {s.text_source})",
            f"{total} frames; most: {share(ranked[:k])}",
            f"least: {share(ranked[-k:])}"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    held = tuple(v for v in args.held_out.split(",") if v)

    def progress(p) -> None:
        print(f"\r{p.stage} {p.done}/{p.total}", end="", file=sys.stderr, flush=True)

    tty = sys.stderr.isatty()
    try:
        summary = make_corpus(args.out, args.utts, args.seed, held_out_voices=held,
                              workers=args.workers, progress=progress if tty else None,
                              text_source=args.text,
                              force=args.force)
    except DeepbrainError as e:
        if tty:
            print(file=sys.stderr)
        if args.traceback:
            traceback.print_exc()
        print(f"python -m deepbrain.corpus: {e}", file=sys.stderr)
        return e.exit_code
    if tty:
        print(file=sys.stderr)
    print("\n".join(summary_lines(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
