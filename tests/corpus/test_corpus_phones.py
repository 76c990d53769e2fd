"""The TIMIT-39 set and the espeak mnemonic map agree with the probe's measured table."""

import os
import re
from pathlib import Path

import pytest

from deepbrain.corpus.phones import (ESPEAK_TO_TIMIT, PHONES, normalize_mnemonic, phones_txt,
                                     to_timit, write_phones_txt)
from deepbrain.model import _read_phones

TIMIT39 = ("iy ih eh ae ah uw uh aa ey ay oy aw ow er l r w y m n ng ch jh dh b d dx g p t k "
           "z v f th s sh hh sil").split()

# Every row of docs/espeak-corpus/phone-mapping.md, mnemonic -> TIMIT-39 (two: split units).
NOTES_TABLE = {
    "n": "n", "t": "t", "s": "s", "I": "ih", "d": "d", "_:": "sil", "D": "dh", "_": "sil",
    "l": "l", "r": "r", "k": "k", "z": "z", "@": "ah", "m": "m", "@2": "ah", "E": "eh",
    "p": "p", "i:": "iy", "V": "ah", "h": "hh", "a": "ae", "w": "w", "3": "er", "aI": "ay",
    "f": "f", "eI": "ey", "b": "b", "v": "v", "I#": "ih", "u:": "uw", "oU": "ow", "S": "sh",
    "I2": "ih", "a#": "ah", "i": "iy", "3:": "er", "N": "ng", "0": "aa", "g": "g", ";": "y",
    "t#": "dx", "j": "y", "aU": "aw", "@L": "l", "dZ": "jh", "tS": "ch", "U": "uh",
    "A@": "aa r", "O:": "aa", "O2": "aa", "O@": "aa r", "r-": "r", "aa": "ae", "T": "th",
    "o@": "aa r", "e@": "eh r", "t2": "t", "i@3": "ih r", "i@": "iy ah", "U@": "uh r",
    "OI": "oy", "A:": "aa", "aI3": "ay er", "Z": "sh", "aI@": "ay ah", "@-": "ah", "n-": "n",
    "?": "sil", "_!": "sil", "x": "hh", "A~": "aa", "O": "aa", "_|": "sil", "_::": "sil",
    "_;": "sil", "t[": "t", "d#": "d", "z#": "z", "z/2": "z", "m-": "m", "l/": "l",
    "l/2": "l", "l-": "l", "r/": "r", "w#": "w", "I2#": "ih", "E2": "eh", "E#": "ah",
    "a2": "ae", "a#2": "ah", "@5": "ah", "@#": "ah", "02": "ah", "0#": "ah", "A#": "aa",
    "O~": "aa", "aI2": "ay", "oU#": "ow", "aU@": "aw er",
}

SHARED = Path(os.environ.get("DEEPBRAIN_SHARED", Path(__file__).resolve().parents[3] / "shared"))
MAPPING_MD = SHARED / "docs" / "espeak-corpus" / "phone-mapping.md"


def test_phone_set_is_timit39_with_sil_first():
    assert sorted(PHONES) == sorted(TIMIT39) and len(PHONES) == 39
    assert PHONES[0] == "sil"


def test_every_mnemonic_of_the_notes_maps_as_measured():
    assert {k: " ".join(v) for k, v in ESPEAK_TO_TIMIT.items()} == NOTES_TABLE
    assert all(label in PHONES for v in ESPEAK_TO_TIMIT.values() for label in v)


def test_notes_table_in_the_docs_is_the_one_tested():
    if not MAPPING_MD.is_file():
        pytest.skip(f"{MAPPING_MD} not found (../shared is absent)")
    rows = re.findall(r"^\| `(.+?)` \|.*\| ([a-z]+(?: \+ [a-z]+)?) \|$",
                      MAPPING_MD.read_text(), flags=re.M)
    table = {m.replace("\\|", "|"): t.replace(" + ", " ") for m, t in rows}
    assert table == NOTES_TABLE


def test_stress_marks_of_espeak_1_52_are_stripped():
    assert normalize_mnemonic("'E") == "E" and to_timit(",aI@") == ("ay", "ah")
    assert to_timit("no-such-phone") is None


def test_phones_txt_is_a_symbol_table_with_ids_0_to_n(tmp_path):
    lines = phones_txt().splitlines()
    assert lines[0] == "sil 0" and lines[-1] == f"{PHONES[-1]} {len(PHONES) - 1}"
    path = write_phones_txt(tmp_path / "phones.txt")
    assert _read_phones(path) == PHONES  # what a model dir's phones.txt reader accepts
