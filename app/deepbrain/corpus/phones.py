"""The TIMIT-39 phone set and the espeak-ng (en-us) mnemonic → TIMIT-39 mapping.

The 39 labels are TIMIT's 61 folded as Lee & Hon (1989): ao→aa, ax→ah, axr→er, ix→ih,
ux→uw, el→l, em→m, en/nx→n, zh→sh, hv→hh, closures/pau/epi/h#/q→sil.

The mapping is the measured table of the feasibility probe (``docs/espeak-corpus/
phone-mapping.md``): every mnemonic espeak-ng 1.51 produced for 7403 WordNet sentences in
en-us, plus the ones its other English voices know. Points worth knowing:

* ``;`` is espeak's linking [j] ("the apple"): no IPA, but a real ~40 ms glide → ``y``.
* ``t#`` (flap ɾ) → ``dx``; ``?`` (glottal stop) → ``sil`` as TIMIT's ``q``.
* ``@L`` (syllabic l) → ``l`` as TIMIT's ``el``.
* Units that are two phones (r-coloured vowels ``A@ O@ o@ e@ i@3 U@`` and ``aI@ aI3 aU@
  i@``) map to two labels; :mod:`.labels` splits their segment in time.

Ids: ``sil`` is 0 and the others follow in the order of :data:`PHONES`, so ``phones.txt`` is a
Kaldi symbol table with ids 0..38 and no ``<eps>`` (the ids are DNN targets, not FST symbols).
"""

from __future__ import annotations

import os
from pathlib import Path

PHONES: tuple[str, ...] = (
    "sil", "iy", "ih", "eh", "ae", "ah", "uw", "uh", "aa", "ey", "ay", "oy", "aw", "ow", "er",
    "l", "r", "w", "y", "m", "n", "ng", "ch", "jh", "dh", "b", "d", "dx", "g", "p", "t", "k",
    "z", "v", "f", "th", "s", "sh", "hh",
)
PHONE_IDS: dict[str, int] = {p: i for i, p in enumerate(PHONES)}
SIL = PHONE_IDS["sil"]

VOWELS = frozenset("iy ih eh ae ah uw uh aa ey ay oy aw ow er".split())
NASALS_LIQUIDS = frozenset("m n ng l r".split())
VOICED_STOPS = frozenset("b d g".split())

# espeak mnemonic -> one or two TIMIT-39 labels (two: the segment is split in time).
ESPEAK_TO_TIMIT: dict[str, tuple[str, ...]] = {
    # consonants
    "n": ("n",), "t": ("t",), "s": ("s",), "d": ("d",), "D": ("dh",), "l": ("l",),
    "r": ("r",), "k": ("k",), "z": ("z",), "m": ("m",), "p": ("p",), "h": ("hh",),
    "w": ("w",), "f": ("f",), "b": ("b",), "v": ("v",), "S": ("sh",), "N": ("ng",),
    "g": ("g",), ";": ("y",), "t#": ("dx",), "j": ("y",), "@L": ("l",), "dZ": ("jh",),
    "tS": ("ch",), "r-": ("r",), "T": ("th",), "t2": ("t",), "Z": ("sh",), "n-": ("n",),
    "x": ("hh",), "t[": ("t",), "d#": ("d",), "z#": ("z",), "z/2": ("z",), "m-": ("m",),
    "l/": ("l",), "l/2": ("l",), "l-": ("l",), "r/": ("r",), "w#": ("w",),
    # pauses and the glottal stop
    "_": ("sil",), "_:": ("sil",), "_!": ("sil",), "?": ("sil",), "_|": ("sil",),
    "_::": ("sil",), "_;": ("sil",),
    # vowels
    "I": ("ih",), "@": ("ah",), "@2": ("ah",), "E": ("eh",), "i:": ("iy",), "V": ("ah",),
    "a": ("ae",), "3": ("er",), "aI": ("ay",), "eI": ("ey",), "I#": ("ih",), "u:": ("uw",),
    "oU": ("ow",), "I2": ("ih",), "a#": ("ah",), "i": ("iy",), "3:": ("er",), "0": ("aa",),
    "aU": ("aw",), "U": ("uh",), "O:": ("aa",), "O2": ("aa",), "aa": ("ae",), "OI": ("oy",),
    "A:": ("aa",), "@-": ("ah",), "A~": ("aa",), "O": ("aa",), "I2#": ("ih",), "E2": ("eh",),
    "E#": ("ah",), "a2": ("ae",), "a#2": ("ah",), "@5": ("ah",), "@#": ("ah",), "02": ("ah",),
    "0#": ("ah",), "A#": ("aa",), "O~": ("aa",), "aI2": ("ay",), "oU#": ("ow",),
    # two-phone units
    "A@": ("aa", "r"), "O@": ("aa", "r"), "o@": ("aa", "r"), "e@": ("eh", "r"),
    "i@3": ("ih", "r"), "U@": ("uh", "r"), "i@": ("iy", "ah"), "aI3": ("ay", "er"),
    "aI@": ("ay", "ah"), "aU@": ("aw", "er"),
}

# ARPAbet (CMUdict, Festival's and Flite's US phone sets, pocketsphinx's en-us model) ->
# TIMIT-39, folded as Lee & Hon; case and stress digits are ignored. Festival and Flite
# mark pauses ``pau`` (and ``h#``/``brth``); pocketsphinx ``SIL`` and noise words ``+NSN+``,
# ``+SPN+`` (all sil: no phone is spoken there).
ARPABET_TO_TIMIT: dict[str, str] = {
    **{p: p for p in PHONES},
    "ao": "aa", "ax": "ah", "axr": "er", "ix": "ih", "ux": "uw", "el": "l", "em": "m",
    "en": "n", "nx": "n", "zh": "sh", "hv": "hh", "dx": "dx",
    "pau": "sil", "h#": "sil", "brth": "sil", "sp": "sil", "spn": "sil", "nsn": "sil",
    "+nsn+": "sil", "+spn+": "sil", "+breath+": "sil", "+noise+": "sil",
}

# Festival's British voices (rab_diphone: the MRPA phone set of the OALD lexicon) -> the
# ARPAbet names above; r-coloured and centring diphthongs keep their vowel (British English
# drops the r: "air" e@ -> eh). MRPA's ``uh`` is the vowel of "cup" (ARPAbet ``ah``), not
# ARPAbet's ``uh`` ("book", MRPA ``u``), so this map is applied first, never mixed.
MRPA_TO_ARPABET: dict[str, str] = {
    "#": "pau", "@": "ax", "@@": "er", "a": "ae", "aa": "aa", "ai": "ay", "au": "aw",
    "e": "eh", "e@": "eh", "ei": "ey", "i": "ih", "i@": "ih", "ii": "iy", "o": "aa",
    "oi": "oy", "oo": "ao", "ou": "ow", "u": "uh", "u@": "uh", "uh": "ah", "uu": "uw",
    "h": "hh", **{c: c for c in "p b t d k g f v th dh s z sh zh ch jh m n ng l r w y".split()},
}

_STRESS_MARKS = "',%="


def normalize_mnemonic(name: str) -> str:
    """Strip the stress prefixes espeak-ng 1.52 puts on event names (``'E`` → ``E``)."""
    return name.lstrip(_STRESS_MARKS)


def to_timit(name: str) -> tuple[str, ...] | None:
    """The TIMIT-39 label(s) for an espeak mnemonic, or None if the table lacks it."""
    return ESPEAK_TO_TIMIT.get(normalize_mnemonic(name))


def arpabet_to_timit(name: str) -> str | None:
    """The TIMIT-39 label of an ARPAbet phone (``AO1``, ``ao``, ``SIL``...), or None."""
    return ARPABET_TO_TIMIT.get(name.lower().rstrip("012"))


def phones_txt() -> str:
    """The Kaldi symbol table ``sym id``, one a line, ids 0..N-1 (sil = 0)."""
    return "".join(f"{p} {i}\n" for i, p in enumerate(PHONES))


def write_phones_txt(path: str | os.PathLike) -> Path:
    """Write :func:`phones_txt` to ``path`` and return the path."""
    path = Path(path)
    path.write_text(phones_txt(), encoding="ascii")
    return path
