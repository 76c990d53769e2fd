"""Per-frame phone labels for map building.

Labels are a Kaldi int-vector table (an ark or scp) of phone ids per frame, as
``ali-to-phones --per-frame=true`` writes, read against a ``phones.txt``. Word-position
suffixes (``_B _E _I _S``) are folded, so ``AA_B`` and ``AA_E`` are one class; ``<eps>`` and
disambiguation symbols (``#0``...) are no class; silence phones are left out unless asked
for. A Kaldi alignment dir is turned into such a table by ``kaldi_recipes/local/
ali_to_phones.sh`` (real Kaldi needed).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FormatError, KaldiError

SILENCE = ("sil", "SIL", "sp", "spn", "SPN", "nsn", "NSN", "pau", "h#", "<sil>", "!SIL")
LENGTH_TOLERANCE = 5  # frames, as nnet1 training's --length-tolerance


@dataclass(frozen=True, eq=False)
class PhoneSet:
    """Classes (folded phone names, in ``phones.txt`` order) and each phone id's class."""

    names: tuple[str, ...]
    class_of_id: np.ndarray  # phone id -> class index, -1 where the id is no class
    excluded: tuple[str, ...]
    source: str

    def classes(self, ids: np.ndarray, where: str) -> np.ndarray:
        """Class per frame for phone ids; an id outside the table is an error."""
        bad = (ids < 0) | (ids >= self.class_of_id.size)
        if bad.any() or (ids.size and np.any(self.class_of_id[ids[~bad]] == -2)):
            first = int(ids[bad][0]) if bad.any() else \
                int(ids[~bad][self.class_of_id[ids[~bad]] == -2][0])
            raise FormatError(f"{where}: phone id {first} is not in {self.source}; the labels "
                              f"and phones.txt do not belong together")
        return np.maximum(self.class_of_id[ids], -1)


def fold(symbol: str) -> str:
    return re.sub(r"_[BEIS]$", "", symbol)


MAX_PHONE_ID = 100000  # far more than any phone set: ids index arrays as large


def read_symbol_table(path: str | os.PathLike) -> dict[int, str]:
    """A Kaldi symbol table (``phones.txt``: ``symbol id`` a line) as id -> symbol as
    written; ids beyond :data:`MAX_PHONE_ID` are refused (they would size arrays)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: cannot read the phone table ({e}); expected 'symbol id' "
                          f"lines") from None
    table: dict[int, str] = {}
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) > MAX_PHONE_ID:
            raise FormatError(f"{path}: line {n} is not 'symbol id'")
        table[int(parts[1])] = parts[0]
    if not table:
        raise FormatError(f"{path}: no phones")
    return table


def read_phone_set(path: str | os.PathLike, keep_silence: bool = False) -> PhoneSet:
    path = Path(path)
    table = read_symbol_table(path)
    class_of_id = np.full(max(table) + 1, -2, np.int64)  # -2: id not in the table
    names: list[str] = []
    excluded: list[str] = []
    for pid in sorted(table):
        sym = table[pid]
        if sym == "<eps>" or sym.startswith("#"):
            class_of_id[pid] = -1
            continue
        name = fold(sym)
        if name in SILENCE and not keep_silence:
            class_of_id[pid] = -1
            if name not in excluded:
                excluded.append(name)
            continue
        if name not in names:
            names.append(name)
        class_of_id[pid] = names.index(name)
    if not names:
        raise FormatError(f"{path}: no phones left after leaving out silence")
    return PhoneSet(tuple(names), class_of_id, tuple(excluded), str(path))


def read_labels(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """An int-vector ark or scp (by its ending) as utt_id -> phone ids."""
    import kaldiio

    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such labels file")
    try:
        table = kaldiio.load_scp(str(path)) if path.suffix == ".scp" else \
            kaldiio.load_ark(str(path))
        labels = {str(k): np.asarray(v) for k, v in dict(table).items()}
    except Exception as e:  # kaldiio raises whatever its parser hits on bad bytes
        why = " ".join(str(e).split())   # one line: kaldiio's messages have newlines
        raise FormatError(f"{path}: not a Kaldi int-vector table ({type(e).__name__}: {why}); "
                          f"write labels with ali-to-phones --per-frame=true") from None
    for utt, v in labels.items():
        if v.ndim != 1 or v.dtype.kind not in "iu":
            raise FormatError(f"{path}: entry {utt} is not an integer vector (shape "
                              f"{v.shape}, {v.dtype}); expected per-frame phone ids")
    if not labels:
        raise FormatError(f"{path}: no utterances")
    return labels


def fit_to_frames(classes: np.ndarray, num_frames: int, utt: str, source: str) -> np.ndarray:
    """Labels for exactly ``num_frames`` frames: a difference of up to LENGTH_TOLERANCE
    frames is cut or padded (-1, left out) as Kaldi's nnet1 tools do; more is an error."""
    diff = classes.size - num_frames
    if abs(diff) > LENGTH_TOLERANCE:
        raise FormatError(f"{source}: utterance {utt} has {classes.size} labels for "
                          f"{num_frames} frames (more than {LENGTH_TOLERANCE} apart); the "
                          f"labels were made with other frame options")
    if diff >= 0:
        return classes[:num_frames]
    return np.concatenate([classes, np.full(-diff, -1, classes.dtype)])


def labels_from_alignment(ali_dir: Path, work: Path) -> tuple[Path, Path]:
    """(phones.ark, phones.txt) from a Kaldi alignment dir, through the recipe."""
    from ..engines import kaldi_engine
    from ..resources import recipes_dir

    kaldi = kaldi_engine.find_kaldi()
    kaldi_engine.require(kaldi)
    if not (ali_dir / "phones.txt").is_file():
        raise FormatError(f"{ali_dir}: an alignment dir needs phones.txt (Kaldi's align "
                          f"scripts copy it from the lang dir); copy it there")
    out = work / "phones.ark"
    script = recipes_dir() / "local" / "ali_to_phones.sh"
    r = subprocess.run(["bash", str(script), str(ali_dir), str(out)], capture_output=True,
                       text=True, env=dict(os.environ, KALDI_ROOT=str(kaldi.root)))
    if r.returncode != 0:
        tail = "\n  ".join(r.stderr.strip().splitlines()[-6:])
        raise KaldiError(f"{script} failed on {ali_dir} (exit {r.returncode}):\n  {tail}")
    return out, ali_dir / "phones.txt"
