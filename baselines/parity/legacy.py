"""Save folders that transformers 4.44 (llm2vec's pin) reads the same way transformers 5 does.

`save_pretrained` under transformers 5 writes two files whose keys 4.44 does not know:

- `config.json`: RoPE lives in `rope_parameters = {"rope_theta": θ, "rope_type": "default"}`; 4.44
  reads a top-level `rope_theta` (and `rope_scaling` for non-default RoPE) and would silently fall
  back to its default θ. `dtype` was `torch_dtype`. `is_causal: false` is our bidirectional switch
  in 5.x (`t2t.models.backbones.set_attention`); 4.44 has no such switch (llm2vec's `*BiModel` classes are
  bidirectional by construction), so we drop the key rather than leave a meaningless attribute.
  `_name_or_path` is set explicitly: `LLM2Vec.prepare_for_tokenization` wraps texts in chat markup
  when it equals an instruct model's Hub id, and our tiny models must not get that wrapper.
- `tokenizer_config.json`: `tokenizer_class: "TokenizersBackend"` is a 5.x class; the generic 4.x
  equivalent is `PreTrainedTokenizerFast`, which reads `tokenizer.json` (vocabulary, normaliser,
  pre-tokeniser and post-processor, so a BOS template survives). Its default `model_input_names`
  include `token_type_ids`, which Llama/Mistral's `forward` rejects (`LLM2Vec.encode` passes the
  tokenizer's whole output), so we pin them to `input_ids` and `attention_mask` as 5.x has them.
  (Not `LlamaTokenizerFast`: it rebuilds the post-processor from `add_bos_token`, default True.)
- `tokenizer.json` itself: `tokenizers` >= 0.20 writes BPE merges as pairs `[["Ġ", "t"], ...]`;
  transformers 4.44 needs `tokenizers` < 0.20, which only parses the older `"Ġ t"` strings (and fails
  with "data did not match any variant of untagged enum ModelWrapper"). The two are equivalent as
  long as no merge part contains a space (byte-level BPE writes spaces as `Ġ`).

The weights (`model.safetensors`) need no change. The rewrites are pure functions of the JSON:

    >>> legacy_model_config({"rope_parameters": {"rope_theta": 1e4, "rope_type": "default"},
    ...                      "dtype": "float32", "is_causal": False}, "t2t-parity/tiny-llama")
    {'torch_dtype': 'float32', 'rope_theta': 10000.0, '_name_or_path': 't2t-parity/tiny-llama'}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# keys transformers 5 writes into tokenizer_config.json that describe the 5.x loader, not the tokenizer
TOKENIZER_LOADER_KEYS = ("backend", "is_local", "local_files_only")


def legacy_model_config(config: dict[str, Any], name_or_path: str) -> dict[str, Any]:
    """A transformers-5 `config.json` dict rewritten for transformers 4.44 (see the module docstring).

    Raises ValueError if the config is causal: the parity models are saved bidirectional, and a
    causal one would mean the saved weights do not come from `attention="bidirectional"`.
    """
    legacy = dict(config)
    if legacy.pop("is_causal", False):
        raise ValueError("expected a bidirectional model (config.is_causal is False)")
    if "dtype" in legacy:
        legacy["torch_dtype"] = legacy.pop("dtype")
    rope = dict(legacy.pop("rope_parameters", None) or {})
    if rope:
        legacy["rope_theta"] = float(rope.pop("rope_theta"))
        if rope.get("rope_type", "default") != "default":
            legacy["rope_scaling"] = rope
    legacy["_name_or_path"] = name_or_path
    return legacy


def legacy_tokenizer_config(config: dict[str, Any]) -> dict[str, Any]:
    """A transformers-5 `tokenizer_config.json` dict rewritten for transformers 4.44."""
    legacy = {key: value for key, value in config.items() if key not in TOKENIZER_LOADER_KEYS}
    if legacy.get("tokenizer_class") in (None, "TokenizersBackend"):
        legacy["tokenizer_class"] = "PreTrainedTokenizerFast"
    legacy.setdefault("model_input_names", ["input_ids", "attention_mask"])
    return legacy


def legacy_tokenizer_json(tokenizer: dict[str, Any]) -> dict[str, Any]:
    """A `tokenizer.json` dict with BPE merges as `"left right"` strings, readable by tokenizers 0.19.

    >>> legacy_tokenizer_json({"model": {"type": "BPE", "merges": [["Ġ", "t"], ["i", "n"]]}})
    {'model': {'type': 'BPE', 'merges': ['Ġ t', 'i n']}}
    """
    model = tokenizer.get("model") or {}
    merges = model.get("merges") or []
    if model.get("type") != "BPE" or all(isinstance(merge, str) for merge in merges):
        return tokenizer
    if any(" " in part for merge in merges for part in merge):
        raise ValueError("a BPE merge contains a space; tokenizers < 0.20 cannot represent it")
    return {**tokenizer, "model": {**model, "merges": [" ".join(merge) for merge in merges]}}


def rewrite_for_transformers_4(folder: Path, name_or_path: str) -> None:
    """Rewrite `config.json`, `tokenizer_config.json` and `tokenizer.json` of a saved folder in place."""
    for filename, rewrite in (
        ("config.json", lambda c: legacy_model_config(c, name_or_path)),
        ("tokenizer_config.json", legacy_tokenizer_config),
        ("tokenizer.json", legacy_tokenizer_json),
    ):
        path = Path(folder) / filename
        path.write_text(
            json.dumps(rewrite(json.loads(path.read_text())), indent=2, ensure_ascii=False) + "\n"
        )
