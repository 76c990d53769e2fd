#!/usr/bin/env python3
"""Score a model on real recorded English speech from Debian packages (evaluation only).

Real voices are never training data here: these recordings are the untouched test of
whether a model trained on synthetic voices hears people. Sources (each a Debian package;
a source whose files are missing is skipped and named):

- ``alsa``: alsa-utils' ``/usr/share/sounds/alsa/*.wav`` ("Front Center" ...): the dev set;
- ``klettres-en``, ``klettres-en_GB``: klettres-data's letter names and short words, an
  American and a British speaker;
- ``ktuberling``: ktuberling-data's English words (body parts, toys, pizza toppings...).

Each clip is converted to 16 kHz mono 16-bit wav with ffmpeg, labelled by forced alignment
of its transcript (``deepbrain.align``, pocketsphinx), and scored with ``deepbrain
evaluate`` per source and on all sources together. Writes ``OUT/real-speech.json`` and
``OUT/confusion-real.png``.

example: python scripts/real_speech.py --model models/demo --work build/real --out models/demo
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

from deepbrain.cli import main as deepbrain  # noqa: E402

INSTALL = "apt-get install alsa-utils klettres-data ktuberling-data"
# Not a source: sound-theme-freedesktop's audio-channel-*.oga are alsa-utils' recordings
# again (Vorbis-coded: the same frames, the same aligned phones).
SOUNDS = Path("/usr/share")
KT_THEMES = ("egypt_", "moon_", "pizzeria_", "tv_")
KT_WORDS = {"palmtree": "palm tree", "sphynx": "sphinx", "fallingstar": "falling star",
            "moonwalker": "moon walker", "broccolli": "broccoli", "ufo": "u f o",
            "moustache": "mustache"}
NOT_WORDS = {"aw", "ch", "th"}
SOURCES = ("alsa", "klettres-en", "klettres-en_GB", "ktuberling")  # klettres' digraph sounds: no transcript can be given


def _clips() -> dict[str, list[tuple[Path, str]]]:
    """source -> [(file, transcript)] for the files that exist here."""
    out: dict[str, list[tuple[Path, str]]] = {}
    alsa = sorted((SOUNDS / "sounds" / "alsa").glob("*.wav"))
    out["alsa"] = [(p, p.stem.replace("_", " ").lower()) for p in alsa if p.stem != "Noise"]
    for lang in ("en", "en_GB"):
        d = SOUNDS / "klettres" / lang
        letters = [(p, "zed" if lang == "en_GB" and p.stem.lower() == "z" else p.stem.lower())
                   for p in sorted((d / "alpha").glob("*.ogg"))]
        words = [(p, p.stem.lower()) for p in sorted((d / "syllab").glob("*.ogg"))
                 if p.stem.lower() not in NOT_WORDS]
        out[f"klettres-{lang}"] = letters + words
    kt = []
    for p in sorted((SOUNDS / "ktuberling" / "sounds" / "en").glob("*.ogg")):
        word = p.stem
        for theme in KT_THEMES:
            if word.startswith(theme):
                word = word[len(theme):]
        kt.append((p, KT_WORDS.get(word, word.replace("_", " "))))
    out["ktuberling"] = kt
    return {k: v for k, v in out.items() if v}


def _convert(src: Path, dst: Path) -> None:
    """Any audio file -> 16 kHz mono 16-bit wav (ffmpeg, an argument list)."""
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i",
                    str(src), "-ac", "1", "-ar", "16000", "-sample_fmt", "s16", str(dst)],
                   check=True)


def _utt_id(source: str, path: Path) -> str:
    return f"{source}-" + re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)


def prepare(work: Path, sources: list[str] | None = None) -> dict[str, Path]:
    """Per source a data dir: wav/ (16 kHz), wav.scp, text, and the alignment
    (phones.ctm, phones.ark/.scp, phones.txt) written by ``deepbrain align``; only
    ``sources`` when given."""
    dirs = {}
    for source, clips in _clips().items():
        if sources and source not in sources:
            continue
        d = work / source
        (d / "wav").mkdir(parents=True, exist_ok=True)
        wavs, text = [], []
        for path, words in clips:
            utt = _utt_id(source, path)
            wav = d / "wav" / f"{utt}.wav"
            if not wav.is_file():
                _convert(path, wav)
            wavs.append(wav)
            text.append(f"{utt} {words}\n")
        (d / "text").write_text("".join(text))
        code = deepbrain(["align", *map(str, wavs), "--transcripts", str(d / "text"),
                          "--out", str(d), "--force"])
        if code not in (0, 10):
            raise SystemExit(f"real_speech: deepbrain align failed on {source} (exit {code})")
        if not (d / "phones.scp").is_file():
            print(f"real_speech: nothing of {source} could be aligned", file=sys.stderr)
            continue
        aligned = set(json_keys(d / "phones.scp"))
        (d / "wav.scp").write_text("".join(f"{w.stem} {w}\n" for w in wavs
                                           if w.stem in aligned))
        dirs[source] = d
    return dirs


def json_keys(scp: Path) -> list[str]:
    return [line.split()[0] for line in scp.read_text().splitlines() if line.strip()]


def pooled(dirs: dict[str, Path], work: Path) -> Path:
    """All sources in one data dir (for the pooled figures and the confusion picture)."""
    import kaldiio

    d = work / "all"
    d.mkdir(parents=True, exist_ok=True)
    scp, labels = [], {}
    for source, sd in dirs.items():
        scp += [line + "\n" for line in (sd / "wav.scp").read_text().splitlines()]
        labels.update(kaldiio.load_scp(str(sd / "phones.scp")))
    (d / "wav.scp").write_text("".join(scp))
    kaldiio.save_ark(str(d / "phones.ark"), labels, scp=str(d / "phones.scp"))
    (d / "phones.txt").write_text(next(iter(dirs.values())).joinpath("phones.txt").read_text())
    return d


def reference(d: Path):
    """For scale: how often pocketsphinx's own en-us model (trained on real speech),
    decoding a phone loop without the transcript, names the aligned phone of a frame
    (``deepbrain.align.recognise_phones``), as ``deepbrain evaluate`` scores a model."""
    import kaldiio
    import numpy as np

    from deepbrain.align import recognise_phones
    from deepbrain.audio import read_wav
    from deepbrain.corpus.phones import PHONES
    from deepbrain.evaluate import Scorer, names_from_ids, read_phone_table

    truth = names_from_ids(kaldiio.load_scp(str(d / "phones.scp")),
                           read_phone_table(d / "phones.txt"), str(d / "phones.scp"))
    scorer = Scorer(PHONES)
    for line in (d / "wav.scp").read_text().splitlines():
        utt, wav = line.split(maxsplit=1)
        heard = [scorer.index[s.phone] for s in recognise_phones(read_wav(wav), utt)
                 for _ in range(s.end - s.start)]
        scorer.add(truth[utt], np.array(heard, dtype=np.int64), utt, str(d / "wav.scp"))
    return scorer.scores()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "models" / "demo")
    p.add_argument("--work", type=Path, default=ROOT / "build" / "real-speech")
    p.add_argument("--out", type=Path, help="write real-speech.json and confusion-real.png "
                   "here (default: the work dir)")
    p.add_argument("--sources", nargs="+", metavar="SOURCE", choices=SOURCES,
                   help="score only these sources (e.g. --sources alsa: the dev set, while "
                        "the others stay untouched for the final figures)")
    args = p.parse_args(argv)
    out = args.out or args.work
    from deepbrain.align import why_unavailable

    if why_unavailable():
        print(f"real_speech: {why_unavailable()}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    dirs = prepare(args.work, args.sources)
    if not dirs:
        print(f"real_speech: no real recordings found; {INSTALL}", file=sys.stderr)
        return 1
    from deepbrain.evaluate import total

    results, refs = {}, {}
    for source, d in {**dirs, "all": pooled(dirs, args.work)}.items():
        js = args.work / f"{source}.json"
        plot = ["--plot", str(out / "confusion-real.png"), "--title",
                "real speech, all sources (never trained on)"] if source == "all" else []
        code = deepbrain(["evaluate", "--model", str(args.model), "--data", str(d),
                          "--labels", str(d / "phones.scp"), "--json", str(js), *plot])
        if code != 0:
            return code
        r = json.loads(js.read_text())
        r["clips"] = len(_clips().get(source, [])) if source != "all" else \
            sum(len(v) for k, v in _clips().items() if k in dirs)
        refs[source] = total(refs.values()) if source == "all" else reference(d)
        r["pocketsphinx"] = {"speech_accuracy": refs[source].speech[1],
                             "silence_accuracy": refs[source].silence_frames[1]}
        results[source] = r
    (out / "real-speech.json").write_text(json.dumps(
        {k: {kk: vv for kk, vv in v.items() if kk not in ("confusion", "phones", "model")}
         for k, v in results.items()}, indent=1) + "\n")
    for source, r in results.items():
        print(f"{source:<15} {r['utterances']:4d} utts  speech {100 * r['speech_accuracy']:5.1f} %"
              f" of {r['speech_frames']:6d}  silence {100 * r['silence_accuracy']:5.1f} % of "
              f"{r['silence_frames']:6d}  (pocketsphinx's phone loop: speech "
              f"{100 * r['pocketsphinx']['speech_accuracy']:.1f} %, silence "
              f"{100 * r['pocketsphinx']['silence_accuracy']:.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
