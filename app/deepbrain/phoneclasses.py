"""Phones by manner of articulation, one spelling for comparing phone names, and a palette.

The inspector groups a unit's activity pattern by manner (vowels, diphthongs, approximants,
nasals, stops, affricates, fricatives, silence), as the selectivity figures of Mesgarani et
al. (2014) and Nagamine et al. (2015) do. The table covers TIMIT's 61 symbols (so its
39-phone folding too) and CMUdict/ARPAbet; anything else is ``other``.

Names from different sources meet here (a CTM from Kaldi's ``ali-to-phones`` with ``AA1_B``,
the aligner's TIMIT-39 ``aa``, a map's ``units.csv``): :func:`phone_key` folds them to one
spelling before they are compared.
"""

from __future__ import annotations

import colorsys
import functools
import re
from typing import Sequence

import numpy as np

MANNERS: tuple[str, ...] = ("vowel", "diphthong", "approximant", "nasal", "stop", "affricate",
                            "fricative", "silence", "other")

_MANNER_OF: dict[str, str] = {}
for _manner, _phones in (
        ("vowel", "iy ih eh ae ah uw uh aa ao er ax ix axr ux ax-h"),
        ("diphthong", "ey ay oy aw ow"),
        ("approximant", "l r w y el"),
        ("nasal", "m n ng em en eng nx"),
        ("stop", "b d g p t k dx q"),
        ("affricate", "ch jh"),
        ("fricative", "dh z v f th s sh zh hh hv"),
        ("silence", "sil sp spn nsn pau epi h# bcl dcl gcl pcl tcl kcl <sil> !sil")):
    for _p in _phones.split():
        _MANNER_OF[_p] = _manner


@functools.lru_cache(maxsize=4096)
def phone_key(name: str) -> str:
    """One spelling of a phone name for comparing: lower case, without Kaldi's word-position
    suffix (``_B _E _I _S``) and ARPAbet's stress digit (``AA1`` -> ``aa``)."""
    key = re.sub(r"_[BEIS]$", "", name.strip()).lower()
    return re.sub(r"(?<=[a-z])[012]$", "", key)


def manner(name: str) -> str:
    """The manner class of a phone (``other`` when the table does not know it)."""
    return _MANNER_OF.get(phone_key(name), "other")


def by_manner(names: Sequence[str]) -> list[int]:
    """Indices of ``names`` ordered by manner class, keeping their order within a class."""
    rank = {m: i for i, m in enumerate(MANNERS)}
    return sorted(range(len(names)), key=lambda i: (rank[manner(names[i])], i))


# A distinct colour per manner class (the inspector's bars).
MANNER_COLOURS: dict[str, tuple[int, int, int]] = {
    "vowel": (231, 111, 81), "diphthong": (244, 162, 97), "approximant": (233, 196, 106),
    "nasal": (138, 201, 38), "stop": (42, 157, 143), "affricate": (86, 146, 230),
    "fricative": (157, 115, 219), "silence": (140, 146, 156), "other": (190, 190, 190),
}


def phone_palette(count: int) -> np.ndarray:
    """``count`` categorical colours (count x 4 float32 RGBA), neighbours in the list far
    apart in hue: golden-angle hue steps, three alternating levels of lightness and
    saturation, so 40 phones stay tellable apart on a dark background."""
    out = np.empty((max(count, 0), 4), np.float32)
    levels = ((0.95, 0.62), (0.60, 0.85), (0.80, 0.45))   # (value, saturation)
    for i in range(count):
        hue = (i * 0.618033988749895) % 1.0
        value, saturation = levels[i % 3]
        out[i, :3] = colorsys.hsv_to_rgb(hue, saturation, value)
        out[i, 3] = 1.0
    return out
