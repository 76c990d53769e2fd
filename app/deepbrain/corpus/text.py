"""Sentences to speak, offline and deterministic given a seed.

First choice: the example sentences of WordNet 3.0's glosses (Debian ``wordnet-base``, main;
WordNet licence: free to use and redistribute with its notice kept). The quoted examples in
``data.{noun,verb,adj,adv}`` with 5–14 words, starting with a capital and using only letters
and basic punctuation give ~7500 natural sentences ("The nurse bandaged a sprained ankle.").

Fallback: sentences from a seeded template grammar over the ``wamerican`` word list
(``/usr/share/dict/american-english``). It has no parts of speech, so the templates carry
the grammar (function words and a few verbs) and random dictionary words fill the slots:
phonetically varied, semantically nonsense.

Some WordNet examples are dated or odd; review the text before shipping a corpus widely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import CorpusError

WORDNET_DIR = Path("/usr/share/wordnet")
WORDS_FILE = Path("/usr/share/dict/american-english")
SOURCES = ("auto", "wordnet", "wamerican")

_QUOTED = re.compile(r'"([^"]+)"')
_CLEAN = re.compile(r"[A-Z][A-Za-z ,.'?!-]*")
_WORD = re.compile(r"[a-z]{3,10}")

TEMPLATES = (
    "The {} and the {} were {}.",
    "She said the {} was near the {}.",
    "We found a {} {} in the {}.",
    "Did you see the {} by the {}?",
    "They will take the {} to the {} tomorrow.",
    "My {} has a {} and a {}.",
    "A {} is not a {}, he said.",
    "Put the {} on the {} and wait for the {}.",
    "Nobody knew why the {} looked so {}.",
    "After the {}, the {} went home.",
    "His {} is older than her {}.",
    "Please bring me the {} from the {}.",
)


@dataclass(frozen=True)
class Sentences:
    """The sentences of a corpus, one per utterance, and where they came from."""

    source: str
    items: tuple[str, ...]


def wordnet_sentences(wordnet_dir: Path | None = None) -> tuple[str, ...]:
    """WordNet's clean example sentences, sorted and unique, each ending in punctuation.

    ``None`` means :data:`WORDNET_DIR` as it is when called (not when this module was
    imported), so that a test or a caller can point it elsewhere."""
    return _wordnet_sentences(WORDNET_DIR if wordnet_dir is None else Path(wordnet_dir))


@lru_cache(maxsize=2)
def _wordnet_sentences(wordnet_dir: Path) -> tuple[str, ...]:
    """Cached per folder: parsing the 22 MB of data files takes ~0.25 s."""
    found: set[str] = set()
    for pos in ("noun", "verb", "adj", "adv"):
        with open(wordnet_dir / f"data.{pos}", encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.startswith("  "):  # the licence header lines start with spaces
                    found.update(_clean_examples(line.partition("|")[2]))
    return tuple(sorted(found))


def _clean_examples(gloss: str):
    for q in _QUOTED.findall(gloss):
        q = q.strip()
        if 5 <= len(q.split()) <= 14 and "--" not in q and _CLEAN.fullmatch(q):
            yield q if q[-1] in ".?!" else q.rstrip(",") + "."


def dictionary_words(words_file: Path | None = None) -> list[str]:
    """Plain lower-case words of 3–10 letters (no names, no possessives), sorted.

    ``None`` means :data:`WORDS_FILE` as it is when called (a default bound at import would
    keep reading the system's list after a caller or a test pointed WORDS_FILE elsewhere)."""
    words_file = WORDS_FILE if words_file is None else Path(words_file)
    try:
        text = words_file.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise CorpusError(f"{words_file}: cannot read the word list ({e.strerror}); "
                          f"apt-get install wamerican, or wordnet-base instead") from None
    return sorted({w for w in text.split() if _WORD.fullmatch(w)})


def template_sentence(words: list[str], seed: int, index: int) -> str:
    """Sentence ``index`` of the template grammar: the same for the same seed and index."""
    rng = np.random.default_rng([seed, index])
    template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    fill = [words[int(k)] for k in rng.integers(len(words), size=template.count("{}"))]
    return template.format(*fill)


def corpus_sentences(n: int, seed: int, source: str = "auto") -> Sentences:
    """``n`` sentences for utterances 0..n-1. WordNet's are shuffled with ``seed`` (and
    reused in that order when n exceeds them); the first k of n are those of a k corpus."""
    if source not in SOURCES:
        raise CorpusError(f"unknown sentence source {source!r}; choose one of "
                          f"{', '.join(SOURCES)}")
    if source in ("auto", "wordnet") and (WORDNET_DIR / "data.noun").is_file():
        pool = wordnet_sentences(WORDNET_DIR)
        order = np.random.default_rng(seed).permutation(len(pool))
        return Sentences("wordnet", tuple(pool[order[i % len(pool)]] for i in range(n)))
    if source == "wordnet":
        raise CorpusError(f"WordNet not found at {WORDNET_DIR}; apt-get install wordnet-base")
    if not WORDS_FILE.is_file():
        raise CorpusError(f"no sentence source: neither {WORDNET_DIR} nor {WORDS_FILE}; "
                          f"apt-get install wordnet-base (or wamerican)")
    words = dictionary_words(WORDS_FILE)
    return Sentences("wamerican", tuple(template_sentence(words, seed, i) for i in range(n)))
