"""Sentence sources: WordNet examples, or the wamerican template grammar; seeded."""

import pytest

from deepbrain.corpus import text
from deepbrain.corpus.errors import CorpusError


def test_wordnet_sentences_are_clean_and_deterministic():
    if not (text.WORDNET_DIR / "data.noun").is_file():
        pytest.skip("WordNet is not installed: apt-get install wordnet-base")
    pool = text.wordnet_sentences()
    assert 7000 < len(pool) < 8000 and list(pool) == sorted(set(pool))
    assert all(5 <= len(s.split()) <= 14 and s[0].isupper() and s[-1] in ".?!" for s in pool)
    a, b = text.corpus_sentences(20, 5), text.corpus_sentences(30, 5)
    assert a.source == "wordnet" and a.items == b.items[:20]
    assert text.corpus_sentences(20, 6).items != a.items


def test_template_sentences_from_the_word_list(monkeypatch, tmp_path):
    words = tmp_path / "words"
    words.write_text("apple\nBoston\ncat's\nzebra\nmoon\nlantern\n")
    monkeypatch.setattr(text, "WORDS_FILE", words)
    monkeypatch.setattr(text, "WORDNET_DIR", tmp_path / "no-wordnet")
    assert text.dictionary_words(words) == ["apple", "lantern", "moon", "zebra"]
    s = text.corpus_sentences(8, 1)
    assert s.source == "wamerican" and len(s.items) == 8
    assert s.items == text.corpus_sentences(8, 1).items != text.corpus_sentences(8, 2).items
    assert all(s.endswith((".", "?")) and "{}" not in s for s in s.items)
    with pytest.raises(CorpusError, match="apt-get install wordnet-base"):
        text.corpus_sentences(2, 1, source="wordnet")


def test_no_source_at_all_names_the_packages(monkeypatch, tmp_path):
    monkeypatch.setattr(text, "WORDS_FILE", tmp_path / "none")
    monkeypatch.setattr(text, "WORDNET_DIR", tmp_path / "none")
    with pytest.raises(CorpusError, match="wordnet-base"):
        text.corpus_sentences(2, 1)
