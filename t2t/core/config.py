"""Frozen, validated, hashable configs.

Every run in the suite is described by frozen dataclasses built on `Config`. A config

- is built from plain data with `from_dict`, which rejects unknown keys and wrong types with a
  message that lists the valid choices (no silent typos in a sweep);
- serialises canonically with `to_dict` / `canonical_json` (sorted keys, tuples as lists);
- is identified by `config_hash`, a short SHA-256 of its canonical JSON. Results and artifacts are
  stored under that hash, so the same config is never trained or evaluated twice.

A field added to a config after runs were stored under its hashes is declared with
`field_omitted_at_default`: left at its default it is not serialised, so every existing config
keeps its canonical JSON and hash, and only a config that sets it differently gets a new one.

Example:
    >>> @dataclasses.dataclass(frozen=True)
    ... class Opt(Config):
    ...     lr: float = 5e-5
    >>> Opt.from_dict({"lr": 1e-4}).lr
    0.0001
    >>> Opt.from_dict({"learning_rate": 1e-4})
    Traceback (most recent call last):
    ...
    t2t.core.config.ConfigError: Opt: unknown key 'learning_rate'; valid keys: lr
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin

from t2t.core.errors import UserError

T = TypeVar("T", bound="Config")

OMIT_AT_DEFAULT = "omit_at_default"
"""Field metadata key: the field is left out of `to_dict` (so of the hash) while it equals its default."""


class ConfigError(UserError, ValueError):
    """A config key or value is not valid; the message names the valid choices."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`, converting lists to tuples and dicts to configs."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in get_args(tp):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(f"{where}: {value!r} fits none of {tp}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(args, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if isinstance(tp, type) and issubclass(tp, Config):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {type(value).__name__}")
        return tp.from_dict(value, where=where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if isinstance(tp, type):
        if not isinstance(value, tp):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        return value
    return value


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class for frozen configs: validation on construction from data, canonical JSON, hash."""

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any], where: str | None = None) -> T:
        where = where or cls.__name__
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(fields))}")
        hints = typing.get_type_hints(cls)
        kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
        return cls(**kwargs)

    def replace(self: T, **changes: Any) -> T:
        """A copy with some fields changed, validated like `from_dict`."""
        return type(self).from_dict({**self.to_dict(shallow=True), **changes})

    def to_dict(self, shallow: bool = False) -> dict[str, Any]:
        if shallow:
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return _plain(self)

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def config_hash(self, length: int = 12) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:length]


def field_omitted_at_default(
    *, default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING
):
    """A dataclass field that `to_dict`, `canonical_json` and `config_hash` leave out while it equals
    its default: the way to add a setting to a config whose hashes name stored results.

        >>> @dataclasses.dataclass(frozen=True)
        ... class Opt(Config):
        ...     lr: float = 5e-5
        ...     warmup: int = field_omitted_at_default(default=0)
        >>> Opt().to_dict(), Opt(warmup=10).to_dict()
        ({'lr': 5e-05}, {'lr': 5e-05, 'warmup': 10})
    """
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={OMIT_AT_DEFAULT: True}
    )


def _at_omitted_default(config: Config, field: dataclasses.Field) -> bool:
    """Whether `field` of `config` is declared `field_omitted_at_default` and holds its default."""
    if not field.metadata.get(OMIT_AT_DEFAULT):
        return False
    default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
    return getattr(config, field.name) == default


def _plain(value: Any) -> Any:
    if isinstance(value, Config):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not _at_omitted_default(value, f)
        }
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def choose(registry: dict[str, Any], name: str, what: str) -> Any:
    """Look `name` up in a registry dict, failing with the list of valid names."""
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(f"unknown {what} {name!r}; choose one of: {', '.join(sorted(registry))}") from None


def stable_hash(payload: Any, length: int = 16) -> str:
    """SHA-256 of a JSON-serialisable payload (sorted keys), for content-addressed caches."""
    text = json.dumps(_plain(payload), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
