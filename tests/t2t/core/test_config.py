"""Frozen configs: validation messages, canonical hashing, nested specs."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from t2t.core.config import Config, ConfigError, choose, field_omitted_at_default, stable_hash
from t2t.embedding.pooling import PoolingSpec
from t2t.training.spec import ModelSpec, StageSpec


@dataclasses.dataclass(frozen=True)
class Inner(Config):
    size: int = 1
    mode: Literal["a", "b"] = "a"


@dataclasses.dataclass(frozen=True)
class Outer(Config):
    name: str
    inner: Inner = Inner()
    values: tuple[float, ...] = ()
    maybe: int | None = None


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown key 'nmae'; valid keys: inner, maybe, name, values"):
        Outer.from_dict({"nmae": "x"})


def test_nested_errors_say_where():
    with pytest.raises(ConfigError, match=r"Outer\.inner\.mode: 'c' is not one of 'a', 'b'"):
        Outer.from_dict({"name": "x", "inner": {"mode": "c"}})
    with pytest.raises(ConfigError, match=r"Outer\.inner\.size: expected an integer"):
        Outer.from_dict({"name": "x", "inner": {"size": 1.5}})


def test_lists_become_tuples_and_ints_become_floats():
    config = Outer.from_dict({"name": "x", "values": [1, 2.5], "maybe": None})
    assert config.values == (1.0, 2.5) and isinstance(config.values[0], float)


def test_hash_is_canonical_and_sensitive():
    a = Outer.from_dict({"name": "x", "values": [1, 2]})
    b = Outer.from_dict({"values": [1.0, 2.0], "name": "x"})
    assert a.config_hash() == b.config_hash()
    assert a.replace(name="y").config_hash() != a.config_hash()
    assert Outer.from_dict(a.to_dict()) == a


def test_choose_names_the_choices():
    with pytest.raises(ConfigError, match="unknown corpus 'wiki'; choose one of: a, b"):
        choose({"a": 1, "b": 2}, "wiki", "corpus")


def test_stable_hash_ignores_key_order():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})


def test_stage_options_are_completed_so_equal_meanings_hash_equal():
    bare = StageSpec.from_dict({"objective": "model-derived", "steps": 10})
    explicit = StageSpec.from_dict({"objective": "model-derived", "steps": 10, "options": {"tau": 1e-4}})
    assert bare.options["tau"] == 1e-4 and "common_samples" in bare.options
    assert bare.config_hash() == explicit.config_hash()
    with pytest.raises(ConfigError, match="model-derived options: unknown key 'temperature'"):
        StageSpec.from_dict({"objective": "model-derived", "steps": 10, "options": {"temperature": 1}})
    with pytest.raises(ConfigError, match="unknown objective 'kl'"):
        StageSpec.from_dict({"objective": "kl", "steps": 10})


def test_stage_keys_share_prefixes():
    dd = {"objective": "data-driven", "steps": 5}
    md = {"objective": "model-derived", "steps": 3}
    dd_only = ModelSpec.from_dict({"backbone": "tiny-llama", "stages": [dd]})
    dd_md = ModelSpec.from_dict({"backbone": "tiny-llama", "stages": [dd, md]})
    md_dd = ModelSpec.from_dict({"backbone": "tiny-llama", "stages": [md, dd]})
    assert dd_only.stage_key(0) == dd_md.stage_key(0)
    assert dd_md.stage_key(1) != md_dd.stage_key(1)
    assert md_dd.stage_key(0) != dd_md.stage_key(0)
    mean = ModelSpec.from_dict({"backbone": "tiny-llama", "pooling": {"mode": "mean"}, "stages": [dd]})
    assert mean.stage_key(0) != dd_only.stage_key(0)  # Text2Token stages depend on the pooling
    assert isinstance(dd_only.pooling, PoolingSpec)


@dataclasses.dataclass(frozen=True)
class Before(Config):
    lr: float = 5e-5


@dataclasses.dataclass(frozen=True)
class After(Config):
    """`Before` with two settings added later, declared so that stored hashes survive."""

    lr: float = 5e-5
    warmup: int = field_omitted_at_default(default=0)
    extra: dict = field_omitted_at_default(default_factory=dict)


def test_a_field_omitted_at_default_keeps_old_hashes_and_changes_them_when_set():
    assert After().canonical_json() == Before().canonical_json() == '{"lr":5e-05}'
    assert After().config_hash() == Before().config_hash()
    assert stable_hash({"spec": After()}) == stable_hash({"spec": Before()})
    changed = [After(warmup=10), After(extra={"a": 1}), After(warmup=10, extra={"a": 1})]
    assert len({c.config_hash() for c in changed} | {Before().config_hash()}) == 4
    assert After(warmup=10).to_dict() == {"lr": 5e-5, "warmup": 10}
    for config in [After(), *changed]:  # what is left out reads back as the default
        assert After.from_dict(config.to_dict()) == config
    assert After(warmup=10).replace(warmup=0) == After()


def test_pooling_specs_keep_their_canonical_json_and_validate_modes():
    """`PoolingSpec.options` (added for registered modes) is not in the JSON of `last`/`mean` specs,
    whose hashes name stored runs; an unknown mode names the registered ones."""
    assert PoolingSpec().canonical_json() == (
        '{"mean_skip_bos":false,"mode":"last","template":"This sentence : \\"{text}\\" means in one word:\\""}'
    )
    assert "options" not in PoolingSpec(mode="mean", mean_skip_bos=True).to_dict()
    with pytest.raises(ConfigError, match=r"unknown pooling mode 'max'; choose one of: .*last, mean"):
        PoolingSpec.from_dict({"mode": "max"})
    with pytest.raises(ConfigError, match="last pooling options: unknown key 'layer'"):
        PoolingSpec.from_dict({"mode": "last", "options": {"layer": 3}})
