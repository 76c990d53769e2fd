"""The sentence sources on a machine without the system word list (no ``wamerican``).

A fresh Debian has no ``/usr/share/dict/american-english``; the tests must pass there too.
Here that file is made unreadable for the test (not uninstalled): any read of it fails.
"""

from __future__ import annotations

import pathlib

import pytest

from deepbrain.corpus import text
from deepbrain.corpus.errors import CorpusError

SYSTEM_WORDS = pathlib.Path("/usr/share/dict/american-english")


@pytest.fixture
def no_system_word_list(monkeypatch):
    """Every read of the system word list fails, as on a machine without wamerican."""
    real_read_text = pathlib.Path.read_text

    def read_text(self, *args, **kwargs):
        if self.resolve() == SYSTEM_WORDS.resolve() or self == SYSTEM_WORDS:
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", read_text)


def test_a_patched_word_list_is_the_one_read(no_system_word_list, monkeypatch, tmp_path):
    words = tmp_path / "words"
    words.write_text("apple\nBoston\ncat's\nzebra\nmoon\nlantern\n")
    monkeypatch.setattr(text, "WORDS_FILE", words)
    monkeypatch.setattr(text, "WORDNET_DIR", tmp_path / "no-wordnet")
    assert text.dictionary_words() == ["apple", "lantern", "moon", "zebra"]
    s = text.corpus_sentences(4, 1)
    assert s.source == "wamerican" and len(s.items) == 4


def test_the_fixture_really_hides_the_system_list(no_system_word_list, monkeypatch, tmp_path):
    monkeypatch.setattr(text, "WORDS_FILE", SYSTEM_WORDS)
    with pytest.raises(CorpusError, match="american-english: cannot read the word list.*"
                                          "apt-get install wamerican"):
        text.dictionary_words()


def test_a_patched_wordnet_dir_is_the_one_read(monkeypatch, tmp_path):
    wn = tmp_path / "wordnet"
    wn.mkdir()
    gloss = '00001 03 n 01 x 0 | a thing; "The nurse bandaged a sprained ankle"\n'
    for pos in ("noun", "verb", "adj", "adv"):
        (wn / f"data.{pos}").write_text("  licence header\n" + (gloss if pos == "noun" else ""))
    monkeypatch.setattr(text, "WORDNET_DIR", wn)
    assert text.wordnet_sentences() == ("The nurse bandaged a sprained ankle.",)
    assert text.corpus_sentences(2, 0).items == ("The nurse bandaged a sprained ankle.",) * 2
