"""``deepbrain align`` and ``deepbrain evaluate``: phone labels for real recordings, and a
model's frame accuracy against them. Wired into :mod:`deepbrain.cli` by :func:`add_parsers`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .console import say
from .errors import DeepbrainError, OutputExistsError

ALIGN_OUTPUTS = ("phones.ctm", "phones.ark", "phones.scp", "phones.txt")


def add_parsers(sub) -> None:
    a = sub.add_parser("align", help="phone labels for recordings by forced alignment of "
                       "their transcripts (pocketsphinx, no Kaldi)",
                       description="Writes OUT/phones.ctm (Kaldi CTM), OUT/phones.ark + "
                       ".scp (phone ids per 10 ms frame) and OUT/phones.txt: what build-map "
                       "--labels and evaluate --labels read. Needs pip install "
                       "'deepbrain[align]'.")
    a.add_argument("wavs", nargs="+", metavar="WAV", help="wav files (utterance id = stem)")
    _text_args(a)
    a.add_argument("--out", required=True, help="output directory")
    a.add_argument("--channel", type=int, help="channel (0-based) of multi-channel wavs")
    a.add_argument("--force", action="store_true", help="replace alignments already in --out")

    e = sub.add_parser("evaluate", help="a model's frame accuracy on labelled speech: "
                       "speech and silence frames, per phone, a confusion matrix",
                       description="Labels come from --data DIR --labels phones.ark (e.g. "
                       "what align writes) or from aligning WAVs with --text/--transcripts.")
    e.add_argument("wavs", nargs="*", metavar="WAV", help="wavs to align and score")
    _text_args(e)
    e.add_argument("--model", required=True, help="the model directory")
    e.add_argument("--data", help="a Kaldi data dir (wav.scp) instead of WAVs")
    e.add_argument("--labels", help="with --data: per-frame phone ids (int-vector ark/scp)")
    e.add_argument("--phones", help="phones.txt of --labels (default: beside them, else "
                   "the model's)")
    e.add_argument("--engine", default="numpy", choices=("auto", "numpy", "kaldi"))
    e.add_argument("--resample", action="store_true",
                   help="resample wavs whose rate differs from the model's")
    e.add_argument("--plot", metavar="PNG", help="write the confusion matrix picture here")
    e.add_argument("--json", metavar="FILE", help="write every figure as JSON here")
    e.add_argument("--title", default="", help="title of the --plot picture")


def _text_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text", help="the words said (the same for every WAV)")
    p.add_argument("--transcripts", help="a Kaldi 'text' file: utt-id words... per line "
                   "(utt-id = the wav's stem)")


def _transcripts(args, utts) -> dict[str, str]:
    from .align import read_transcripts

    if bool(args.text is not None) == bool(args.transcripts):
        raise DeepbrainError("give the words with either --text \"...\" or --transcripts "
                             "FILE (not both, not neither)")
    if args.text is not None:
        return {u.utt_id: args.text for u in utts}
    return read_transcripts(args.transcripts)


def _align_all(utts, texts: dict[str, str], channel: int | None):
    """Align every utterance; (segments per utt, failure messages)."""
    from .align import AlignError, align_audio
    from .audio import read_wav

    done, failed = {}, []
    for u in utts:
        try:
            if u.utt_id not in texts:
                raise AlignError(f"{u.path}: no transcript for utterance {u.utt_id}; add a "
                                 f"line '{u.utt_id} words...' to the transcripts")
            done[u.utt_id] = align_audio(read_wav(u.path, channel), texts[u.utt_id],
                                         str(u.path))
        except AlignError as e:
            failed.append(str(e))
        except DeepbrainError as e:  # unreadable audio: named, the rest still aligned
            failed.append(str(e))
    return done, failed


def _check_aligner() -> None:
    from .align import AlignError, why_unavailable

    reason = why_unavailable()
    if reason:
        raise AlignError(reason)


def cmd_align(args) -> int:
    from .align import AlignError, write_alignments
    from .pipeline import utterances_from_wavs

    _check_aligner()
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a directory; choose another --out")
    old = [n for n in ALIGN_OUTPUTS if (out / n).exists()]
    if old and not args.force:
        raise OutputExistsError(f"{out}: already holds alignments ({', '.join(old)}); pass "
                                f"--force to replace them or choose another --out")
    utts = utterances_from_wavs(args.wavs)
    texts = _transcripts(args, utts)
    done, failed = _align_all(utts, texts, args.channel)
    for message in failed:
        say(f"deepbrain: error: {message}")
    if not done:
        raise AlignError(f"no utterance could be aligned ({len(failed)} failed); nothing "
                         f"written to {out}")
    out.mkdir(parents=True, exist_ok=True)
    for n in ALIGN_OUTPUTS:
        if (out / n).exists():
            os.remove(out / n)
    write_alignments(out, done)
    frames = sum(s[-1].end for s in done.values())
    print(f"{len(done)} utterance(s) aligned, {frames} frames"
          f"{f', {len(failed)} failed' if failed else ''} -> {out}")
    return AlignError.exit_code if failed else 0


def cmd_evaluate(args) -> int:
    from . import evaluate as ev
    from .maps.labels import read_labels
    from .model import load_model
    from .pipeline import read_wav_scp, utterances_from_wavs

    model = load_model(args.model)
    if args.data:
        if args.wavs or args.text is not None or args.transcripts:
            raise DeepbrainError("--data goes with --labels, not with WAVs or "
                                 "--text/--transcripts")
        if not args.labels:
            raise DeepbrainError("--data needs --labels (per-frame phone ids, e.g. "
                                 "OUT/phones.ark from deepbrain align)")
        utts = read_wav_scp(Path(args.data) / "wav.scp")
        labels = read_labels(args.labels)
        phones = args.phones or next((p for p in (Path(args.labels).parent / "phones.txt",
                                                  Path(args.model) / "phones.txt")
                                      if p.is_file()), None)
        if phones is None:
            raise DeepbrainError(f"no phones.txt beside {args.labels} or in {args.model}; "
                                 f"pass --phones")
        truth = ev.names_from_ids(labels, ev.read_phone_table(phones), args.labels)
        source = str(args.labels)
    else:
        if not args.wavs:
            raise DeepbrainError("give WAVs with --text/--transcripts, or --data DIR "
                                 "--labels phones.ark")
        if args.labels:
            raise DeepbrainError("--labels goes with --data")
        _check_aligner()
        utts = utterances_from_wavs(args.wavs)
        done, failed = _align_all(utts, _transcripts(args, utts), None)
        for message in failed:
            say(f"deepbrain: error: {message}")
        if not done:
            raise DeepbrainError(f"no utterance could be aligned ({len(failed)} failed); "
                                 f"nothing to score")
        utts = [u for u in utts if u.utt_id in done]
        truth = {u: [s.phone for s in segs for _ in range(s.num_frames)]
                 for u, segs in done.items()}
        source = "the alignments"
    scores = ev.score_model(model, utts, truth, args.engine, args.resample, source)
    print("\n".join(scores.summary_lines()))
    if args.json:
        ev.write_json(scores, args.json, {"model": str(Path(args.model).absolute())})
    if args.plot:
        print(f"confusion matrix -> {ev.plot_confusion(scores, args.plot, args.title)}")
    return 0


def commands() -> dict:
    return {"align": cmd_align, "evaluate": cmd_evaluate}

