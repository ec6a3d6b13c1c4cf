"""Token Prepending (Fu et al. 2024, "Token Prepending: A Training-Free Approach for Eliciting Better
Sentence Embeddings from LLMs", arXiv 2412.11556, ACL 2025): a placeholder token before the sentence
carries, into each early layer, the sentence embedding the previous layer decoded.

Under causal attention the sentence's early tokens cannot see its later ones. Token Prepending puts
a placeholder `<PST>` just before the sentence in a PromptEOL prompt; before each decoder layer `l`
of a chosen early range, the placeholder's hidden state is overwritten with the last token's hidden
state, i.e. the sentence embedding that layer `l - 1` produced, so the sentence's tokens can attend
to a summary of the whole sentence. The embedding is the last token's state at an intermediate
layer ("early exit"):

    prompt = 'This sentence : <PST> "{x}" means in one word:"'
    h_0    = embed(prompt);  h_0[pst] = v                       # v: the placeholder's own embedding
    for l in 0 .. L-1:
        if start_layer <= l < stop_layer:  h_l[pst] = h_l[last]  # h_l: the input of layer l
        h_{l+1} = layer_l(h_l)
    e = hidden_states[output_layer][last]                       # (batch, dim)

`hidden_states` is transformers' tuple (index 0: the embeddings; `i`: the output of layer `i - 1`,
0-based; `L` = -1: the final, normed output), as in the authors' `evaluate.py`
(`hidden_states[args.output_layer][:, -1, :]`). The loop is the authors' `LlamaModel.forward` in
`senllm/modeling_llama.py` (`hidden_states[torch.arange(B), pst_token_indices, :] =
hidden_states[:, -1, :]` for `tp_starting_index <= index < tp_exiting_index`), done here with
forward hooks on an unmodified transformers model: the embedding layer's hook writes `v`, a
pre-hook on each layer of the range overwrites the placeholder, a hook on the exit layer keeps its
output. Causal attention; no training.

Settings (`TokenPrependingOptions`) and their sources (the authors' `fuyuchenIfyw/token_prepending`,
`evaluate.py` and `config.yaml`; the paper's text was not readable here, only its abstract and
third-party summaries, which say the operation is kept to the early layers, stopping around the
7th or 8th, and that an intermediate layer's output is the embedding):

- `template`: their PromptEOL prompt with the placeholder, `'This sentence : <PST> "*sent 0*" means
  in one word:"'` (`evaluate.py`, `prompt_method == "prompteol"`), with `{placeholder}` for `<PST>`:
  our PromptEOL template (`t2t.embedding.pooling.PROMPT_EOL`) plus the placeholder, so this row differs from
  the PromptEOL row by Token Prepending only.
- `start_layer`, `stop_layer`: the decoder layers (0-based) whose input is rewritten,
  `range(start_layer, stop_layer)`, cut at the model's depth. Default [1, 7): `config.yaml`'s
  PromptEOL entry (`llama-2-7b-tp`: `tp_starting_index: 1`, `tp_exiting_index: 7`), the paper's
  "early layers". Their other entries (with their CoT prompt): Llama-3-8B [1, 3), Qwen2-7B and
  Gemma-2-9B [1, 6).
- `output_layer`: the `hidden_states` index of the embedding. Default -2, the output of the
  penultimate layer: `config.yaml`'s early exit for Llama-3-8B, Qwen2-7B and Gemma-2-9B. Their
  Llama-2-7B PromptEOL entry exits at 27 of 32 layers (-6); -2 is the one setting that exists at
  every depth, including the 2-layer tiny presets. Tuned per model there; untuned here.
- `placeholder_seed`: the placeholder's own embedding `v` (what layer 0 and the layers before
  `start_layer` see). The authors add `<PST>` to the vocabulary with a standard-normal row
  (`torch.randn(num_dim)` after `torch.cuda.manual_seed(3407)`); we draw `v ~ N(0, I)` from a CPU
  generator seeded with `placeholder_seed` (3407, their seed, though not their CUDA stream, so a
  different vector) without changing the vocabulary or the model. Scaled like a vocabulary row
  (Gemma's embedding multiplies rows by sqrt(hidden)).

Known differences: the authors' batcher also edits each sentence (appends "." when it ends
without punctuation, turns `"` into `'` and a final "?" into "."), as the original PromptEOL code
does; our PromptEOL row does not, so neither does this one. Texts are cut so the prompt fits
`max_length` (as our PromptEOL); the authors do not cut STS sentences. The placeholder is found by
position, not by token id, so the same id elsewhere in a text is never rewritten.

Not exportable as a sentence-transformers folder: rewriting a hidden state between decoder layers
needs code that a plain transformers model does not run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from t2t.core.config import Config, ConfigError
from t2t.embedding.pooling import (
    PoolingMode,
    PoolingSpec,
    cut_to_tokens,
    hidden_states_module,
    last_token_index,
    register_pooling_mode,
)
from t2t.models.backbones import AttentionMode
from t2t.training.spec import ModelSpec

PLACEHOLDER = "{placeholder}"
TP_PROMPT_EOL = 'This sentence : {placeholder} "{text}" means in one word:"'
SLACK = 2  # tokens a BPE merge at the text's joins can add (as t2t.embedding.pooling.format_texts)


@dataclasses.dataclass(frozen=True)
class TokenPrependingOptions(Config):
    """Token Prepending's settings (module docstring): layers `[start_layer, stop_layer)` rewrite the
    placeholder; the embedding is `hidden_states[output_layer]` at the last token."""

    template: str = TP_PROMPT_EOL
    start_layer: int = 1
    stop_layer: int = 7
    output_layer: int = -2
    placeholder_seed: int = 3407

    def __post_init__(self) -> None:
        if self.template.count("{text}") != 1 or self.template.count(PLACEHOLDER) != 1:
            raise ConfigError(
                f"the template holds '{{text}}' and '{PLACEHOLDER}' once each: {self.template!r}"
            )
        if self.template.index(PLACEHOLDER) > self.template.index("{text}"):
            raise ConfigError("the placeholder goes before the text: only later tokens can attend to it")
        if not 0 <= self.start_layer < self.stop_layer:
            raise ConfigError(
                f"need 0 <= start_layer < stop_layer, got {self.start_layer}, {self.stop_layer}"
            )


def special_ids_around(tokenizer) -> tuple[list[int], list[int]]:
    """The special token ids the tokenizer adds before and after a text (e.g. `[BOS]`, `[]`)."""
    bare = tokenizer("x", add_special_tokens=False).input_ids
    full = tokenizer("x").input_ids
    start = next(i for i in range(len(full)) if full[i : i + len(bare)] == bare)
    return full[:start], full[start + len(bare) :]


def prompt_rows(
    texts: Sequence[str], tokenizer, options: TokenPrependingOptions, max_length: int
) -> tuple[list[list[int]], list[int]]:
    """Token ids of each prompt and the index of its placeholder.

    The prompt is split at the placeholder and each side is tokenised on its own, which is how a
    tokenizer treats an added token such as the authors' `<PST>`; the placeholder's id is the pad
    id (any id would do: its embedding is replaced, `embed_token_prepending`). Texts are cut so the
    row fits `max_length`.
    """
    before, after = options.template.split(PLACEHOLDER)
    opening, closing = special_ids_around(tokenizer)
    template_tokens = len(tokenizer(before + after.replace("{text}", "")).input_ids) + 1  # + placeholder
    budget = max(1, max_length - template_tokens - SLACK)
    head = opening + tokenizer(before, add_special_tokens=False).input_ids
    rows = []
    for text in cut_to_tokens(texts, tokenizer, budget):
        tail = tokenizer(after.replace("{text}", text), add_special_tokens=False).input_ids
        rows.append(head + [tokenizer.pad_token_id] + tail + closing)
    return rows, [len(head)] * len(rows)


def pad_rows(rows: list[list[int]], marks: list[int], tokenizer) -> dict[str, torch.Tensor]:
    """Pad id rows on the tokenizer's padding side: `input_ids`, `attention_mask` and
    `placeholder_mask` (1 at each row's marked index), each (batch, seq)."""
    width = max(len(row) for row in rows)
    left = getattr(tokenizer, "padding_side", "right") == "left"
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    placeholder = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, mark) in enumerate(zip(rows, marks)):
        offset = width - len(row) if left else 0
        ids[i, offset : offset + len(row)] = torch.tensor(row)
        mask[i, offset : offset + len(row)] = 1
        placeholder[i, offset + mark] = 1
    return {"input_ids": ids, "attention_mask": mask, "placeholder_mask": placeholder}


def tokenize_token_prepending(
    texts: Sequence[str], tokenizer, spec: PoolingSpec, max_length: int
) -> dict[str, torch.Tensor]:
    """The prompts with a placeholder before each text, padded (`pad_rows`)."""
    rows, marks = prompt_rows(texts, tokenizer, TokenPrependingOptions.from_dict(spec.options), max_length)
    return pad_rows(rows, marks, tokenizer)


def placeholder_vector(hidden_size: int, seed: int) -> torch.Tensor:
    """The placeholder's own embedding: N(0, I), from a generator of its own (batch-independent)."""
    return torch.randn(hidden_size, generator=torch.Generator().manual_seed(seed))


def exit_index(output_layer: int, layers: int) -> int:
    """`output_layer` as a non-negative index into the `layers + 1` hidden states."""
    if not -(layers + 1) <= output_layer <= layers:
        raise ConfigError(f"output_layer {output_layer} does not exist in a model with {layers} layers")
    return output_layer % (layers + 1)


def _hidden(output) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def embed_token_prepending(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], spec: PoolingSpec, bos_token_id: int | None = None
) -> torch.Tensor:
    """Token Prepending embeddings (batch, dim), fp32: one forward pass with hooks (module docstring)."""
    options = TokenPrependingOptions.from_dict(spec.options)
    decoder = hidden_states_module(model)
    layers = decoder.layers
    exit_at = exit_index(options.output_layer, len(layers))
    rows = torch.arange(batch["input_ids"].shape[0], device=batch["input_ids"].device)
    last = last_token_index(batch["attention_mask"])  # (batch,)
    placeholder = batch["placeholder_mask"].argmax(dim=1)  # (batch,)
    embeddings = decoder.get_input_embeddings()
    vector = placeholder_vector(embeddings.weight.shape[1], options.placeholder_seed)
    captured: dict[str, torch.Tensor] = {}

    def write_placeholder(module, args, output):  # (batch, seq, dim) token embeddings
        row = (vector.to(output.device) * getattr(module, "embed_scale", 1.0)).to(output.dtype)
        output = output.index_put((rows, placeholder), row.expand(len(rows), -1))
        if exit_at == 0:
            captured["hidden"] = output
        return output

    def prepend(module, args, kwargs):  # the layer's input, before it runs
        hidden = args[0] if args else kwargs["hidden_states"]
        hidden = hidden.index_put((rows, placeholder), hidden[rows, last])
        return ((hidden, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": hidden})

    def keep(module, args, output):
        captured["hidden"] = _hidden(output)

    handles = [embeddings.register_forward_hook(write_placeholder)]
    for index in range(options.start_layer, min(options.stop_layer, len(layers))):
        handles.append(layers[index].register_forward_pre_hook(prepend, with_kwargs=True))
    if 0 < exit_at < len(layers):
        handles.append(layers[exit_at - 1].register_forward_hook(keep))
    try:
        output = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    finally:
        for handle in handles:
            handle.remove()
    hidden = output.last_hidden_state if exit_at == len(layers) else captured["hidden"]
    return hidden[rows, last].float()


TOKEN_PREPENDING = register_pooling_mode(
    PoolingMode(
        "token-prepending",
        tokenize_token_prepending,
        embed_token_prepending,
        options_class=TokenPrependingOptions,
        not_exportable="token prepending rewrites a hidden state between decoder layers and reads an "
        "intermediate layer, which a plain transformers model in a sentence-transformers folder cannot do "
        "without custom code",
    )
)


def token_prepending_model(
    backbone: str,
    *,
    options: TokenPrependingOptions = TokenPrependingOptions(),
    attention: AttentionMode = "causal",
) -> ModelSpec:
    """PromptEOL with Token Prepending on the frozen `backbone`: no training stages, causal attention."""
    pooling = PoolingSpec(mode="token-prepending", options=options.to_dict())
    return ModelSpec(backbone=backbone, attention=attention, pooling=pooling, stages=())
