"""The paper backbones' architectures, written here from their `config.json` (nothing downloaded).

Two users: the GPU-hour cost model (`reproduce.gpu_hours`, which needs widths, depth and vocabulary)
and the full-width check (`reproduce.paper_shape`), which builds random decoders of exactly these
shapes with fewer layers (`t2t.backbones`: backbones named `llama3-8b-shape`, `mistral-7b-shape-4l`).

Sources (Hugging Face model repositories, `config.json`):
- `meta-llama/Meta-Llama-3-8B-Instruct`: Llama, 128,256-token vocabulary, GQA with 8 KV heads,
  rope_theta 500,000, untied LM head.
- `mistralai/Mistral-7B-Instruct-v0.2`: Mistral, 32,000-token vocabulary, GQA with 8 KV heads,
  rope_theta 1,000,000, untied LM head, and `sliding_window: null` (v0.1 had 4,096; v0.2 attends
  over its whole 32K context, so there is no window for a check to exercise at our lengths).

This module imports nothing heavy: the cost model and the plan printer stay light.
"""

from __future__ import annotations

PAPER_CONFIGS: dict[str, dict] = {
    "llama3-8b": dict(
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
    "mistral-7b": dict(
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
}
