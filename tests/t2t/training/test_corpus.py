"""Corpora: local files by name, and the Hub-side rebuild of the WikiText-2 sentences."""

from __future__ import annotations

import pytest

from t2t.core.config import ConfigError
from t2t.core.paths import data_root
from t2t.training.corpus import load_corpus, wikitext_sentences


def test_wikitext_sentences_undoes_tokenisation_and_splits():
    lines = [
        " = Robert Boulter = ",
        "",
        " Robert Boulter is an English film , television and theatre actor . He had "
        "a guest @-@ starring role in 2000 . Teddy 's Story was performed in 2001 .",
    ]
    assert wikitext_sentences(lines) == [
        "Robert Boulter is an English film, television and theatre actor.",
        "He had a guest-starring role in 2000.",
        "Teddy's Story was performed in 2001.",
    ]


@pytest.mark.needs_data
def test_hub_rebuild_matches_the_local_file_closely():
    raw = (
        (data_root() / "corpus" / "wikitext-2-raw" / "wiki.test.raw").read_text(encoding="utf-8").splitlines()
    )
    rebuilt, local = wikitext_sentences(raw), load_corpus("wikitext2-sentences")
    assert abs(len(rebuilt) - len(local)) / len(local) < 0.05
    assert len(set(rebuilt) & set(local)) / len(local) > 0.8


def test_unknown_corpus_lists_choices():
    with pytest.raises(ConfigError, match="choose one of: brown-sentences, pretrain-wiki"):
        load_corpus("wiki")
