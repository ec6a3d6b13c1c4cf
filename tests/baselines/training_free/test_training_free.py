"""Training-free methods (`baselines.training_free`): echo embeddings and Token Prepending.

Each mechanism is checked against an independent oracle: echo pools exactly the tokens the second
copy adds to the prompt (under truncation and padding on either side); Token Prepending rewrites
the placeholder's input to exactly the layers of its range, with the previous layer's last-token
state; both give a text the same embedding whatever its batch.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from baselines.training_free import POOLING_MODES as TRAINING_FREE_MODES
from baselines.training_free import EchoOptions, TokenPrependingOptions, echo_model, token_prepending_model
from baselines.training_free.echo import echo_prompts
from baselines.training_free.token_prepending import TP_PROMPT_EOL, placeholder_vector
from t2t.core.config import ConfigError
from t2t.embedding.encoder import Embedder
from t2t.embedding.pooling import PROMPT_EOL, PoolingSpec, embed_batch, hidden_states_module, tokenize
from t2t.models.backbones import load_backbone, load_tokenizer, tiny_config

LONG = "The committee met on a rainy Tuesday to discuss the budget, the new library and the bridge. " * 6
TEXTS = ["A man plays a guitar.", "Dogs.", LONG, "Two cats sleep on a warm red sofa by the window."]
ECHO = PoolingSpec(mode="echo")


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def second_copy_tokens(prompt: str, start: int, tokenizer) -> list[int]:
    """Oracle: the tokens the prompt has beyond those of its part before the second copy (the
    default template ends with the second copy)."""
    full = tokenizer(prompt).input_ids
    return full[common_prefix(full, tokenizer(prompt[:start]).input_ids) :]


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny-llama")


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["tiny-llama", "gemma3-270m"])
def test_echo_pools_exactly_the_second_copy_under_truncation_and_padding(backbone):
    """SmolLM2's tokenizer pads on the right and adds no BOS; Gemma-3's pads on the left and adds
    BOS. A long text is cut, and then both copies are the same cut text."""
    tokenizer = load_tokenizer(backbone)
    max_length = 64
    batch = tokenize(TEXTS, tokenizer, ECHO, max_length)
    prompts, spans = echo_prompts(TEXTS, tokenizer, EchoOptions(), max_length)
    assert batch["input_ids"].shape[1] <= max_length
    for row, (prompt, (start, end)) in enumerate(zip(prompts, spans)):
        text = prompt[start:end]
        assert prompt == f"Rewrite the following sentence: {text}\nThe rewritten sentence: {text}"
        assert TEXTS[row].startswith(text.strip()) and (text == TEXTS[row]) == (TEXTS[row] != LONG)
        pooled = batch["input_ids"][row][batch["pool_mask"][row].bool()].tolist()
        assert pooled == second_copy_tokens(prompt, start, tokenizer)
        assert tokenizer.decode(pooled).strip() == text.strip()
        positions = batch["pool_mask"][row].nonzero().flatten()
        real = batch["attention_mask"][row].nonzero().flatten()
        assert positions.tolist() == real[-len(positions) :].tolist()  # contiguous, ending the row


def test_an_empty_text_pools_the_prompts_last_token():
    tokenizer = load_tokenizer("tiny-llama")
    batch = tokenize(["", "Dogs."], tokenizer, ECHO, 64)
    last = batch["attention_mask"][0].nonzero().max()
    assert batch["pool_mask"][0].nonzero().flatten().tolist() == [last]


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_echo_embedding_is_the_second_copys_mean_whatever_the_batch(tiny, pooling):
    model, tokenizer = tiny
    spec = PoolingSpec(mode="echo", options={"pooling": pooling})
    prompts, spans = echo_prompts(TEXTS, tokenizer, EchoOptions(), 512)
    with torch.inference_mode():
        for prompt, (start, end) in zip(prompts, spans):
            ids = torch.tensor([tokenizer(prompt).input_ids])
            hidden = hidden_states_module(model)(input_ids=ids).last_hidden_state[0]  # (seq, dim)
            count = len(second_copy_tokens(prompt, start, tokenizer))
            expected = hidden[-count:].mean(0) if pooling == "mean" else hidden[-1]
            batch = tokenize([prompt[start:end]], tokenizer, spec, 512)
            torch.testing.assert_close(embed_batch(model, batch, spec)[0], expected, rtol=1e-4, atol=1e-5)
    embedder = Embedder(model, tokenizer, spec, batch_size=3, dtype=torch.float32, progress=False)
    together = embedder.embed(TEXTS)
    alone = np.stack([embedder.embed([text])[0] for text in TEXTS])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)
    classical = Embedder(model, tokenizer, PoolingSpec(mode="mean"), dtype=torch.float32, progress=False)
    assert not np.allclose(together, classical.embed(TEXTS), atol=1e-3)


def four_layer_llama():
    tokenizer = load_tokenizer("tiny-llama")
    config = tiny_config("tiny-llama", tokenizer)
    config.num_hidden_layers = 4
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval(), tokenizer


@pytest.mark.parametrize("side", ["right", "left"])
def test_token_prepending_rewrites_the_placeholder_in_its_layers_only(side):
    """With layers [1, 3) of 4: the placeholder enters layer 0 as its own embedding, layers 1 and 2
    as the previous layer's last-token output, layer 3 as what layer 2 made of it; no other position
    is touched; the embedding is hidden_states[-2] (layer 2's output) at the last token."""
    model, tokenizer = four_layer_llama()
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = side
    options = TokenPrependingOptions(start_layer=1, stop_layer=3, output_layer=-2)
    spec = PoolingSpec(mode="token-prepending", options=options.to_dict())
    batch = tokenize(TEXTS[:2], tokenizer, spec, 128)
    layers = hidden_states_module(model).layers
    inputs, outputs = {}, {}
    handles = [
        layer.input_layernorm.register_forward_pre_hook(lambda m, a, i=i: inputs.__setitem__(i, a[0]))
        for i, layer in enumerate(layers)
    ] + [
        layer.register_forward_hook(lambda m, a, o, i=i: outputs.__setitem__(i, o))
        for i, layer in enumerate(layers)
    ]
    with torch.inference_mode():
        embedding = embed_batch(model, batch, spec)
    for handle in handles:
        handle.remove()
    rows = torch.arange(2)
    mask = batch["attention_mask"]
    last = torch.tensor([mask[r].nonzero().max() for r in rows])
    pst = batch["placeholder_mask"].argmax(1)
    assert (batch["input_ids"][rows, pst] == tokenizer.pad_token_id).all() and (mask[rows, pst] == 1).all()
    vector = placeholder_vector(model.config.hidden_size, options.placeholder_seed)
    torch.testing.assert_close(inputs[0][rows, pst], vector.expand(2, -1))
    for layer in (1, 2):
        torch.testing.assert_close(inputs[layer][rows, pst], outputs[layer - 1][rows, last])
        assert not torch.allclose(inputs[layer][rows, pst], outputs[layer - 1][rows, pst])
    torch.testing.assert_close(inputs[3][rows, pst], outputs[2][rows, pst])
    others = torch.ones_like(mask, dtype=torch.bool)
    others[rows, pst] = False
    for layer in (1, 2, 3):
        torch.testing.assert_close(inputs[layer][others], outputs[layer - 1][others])
    torch.testing.assert_close(embedding, outputs[2][rows, last])
    with pytest.raises(ConfigError, match="output_layer 5 does not exist in a model with 4 layers"):
        embed_batch(model, batch, spec.replace(options={**options.to_dict(), "output_layer": 5}))


@pytest.mark.slow
def test_token_prepending_prompt_is_prompteol_with_a_placeholder_before_the_text():
    tokenizer = load_tokenizer("gemma3-270m")  # adds BOS: the placeholder index counts it
    assert TP_PROMPT_EOL.replace("{placeholder} ", "") == PROMPT_EOL
    spec = token_prepending_model("gemma3-270m").pooling
    batch = tokenize(["A man plays a guitar."], tokenizer, spec, 64)
    ids = batch["input_ids"][0][batch["attention_mask"][0].bool()].tolist()
    pst = int(batch["placeholder_mask"][0][batch["attention_mask"][0].bool()].argmax())
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids[1:pst]) == "This sentence : "
    assert tokenizer.decode(ids[pst + 1 :]) == ' "A man plays a guitar." means in one word:"'
    long = tokenize([LONG * 3], tokenizer, spec, 48)
    assert long["attention_mask"].sum() <= 48
    assert tokenizer.decode(long["input_ids"][0][-8:]).endswith('means in one word:"')


def test_token_prepending_embeddings_are_batch_invariant(tiny):
    model, tokenizer = tiny
    spec = token_prepending_model("tiny-llama", options=TokenPrependingOptions(output_layer=-1)).pooling
    embedder = Embedder(model, tokenizer, spec, batch_size=3, dtype=torch.float32, progress=False)
    together = embedder.embed(TEXTS + [""])
    alone = np.stack([embedder.embed([text])[0] for text in TEXTS + [""]])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)
    prompteol = Embedder(model, tokenizer, PoolingSpec(), dtype=torch.float32, progress=False)
    assert not np.allclose(together[:4], prompteol.embed(TEXTS), atol=1e-3)


def test_training_free_specs_have_no_stages_and_validate_their_options():
    for spec in (echo_model("tiny-llama"), token_prepending_model("tiny-llama")):
        assert spec.stages == () and spec.attention == "causal"
    assert echo_model("x").pooling.options == {"template": EchoOptions().template, "pooling": "mean"}
    assert token_prepending_model("x").pooling.options["stop_layer"] == 7
    assert PoolingSpec(mode="echo").config_hash() == echo_model("x").pooling.config_hash()
    with pytest.raises(ConfigError, match="exactly twice"):
        PoolingSpec(mode="echo", options={"template": "Say {text}."})
    with pytest.raises(ConfigError, match="start_layer < stop_layer"):
        TokenPrependingOptions(start_layer=3, stop_layer=3)
    with pytest.raises(ConfigError, match="placeholder goes before the text"):
        TokenPrependingOptions(template='"{text}" {placeholder} means in one word:"')
    with pytest.raises(ConfigError, match="takes its settings in options"):
        PoolingSpec(mode="echo", mean_skip_bos=True)


REGISTRATION = """
import json, sys
from t2t.core.config import ConfigError
from t2t.embedding.pooling import PoolingSpec
from t2t.embedding.pooling import POOLING_MODES
before = sorted(POOLING_MODES)
{first}
PoolingSpec(mode="echo")  # found through the t2t.core.plugins entry points if nothing registered it yet
try:
    PoolingSpec(mode="no-such-mode")
    error = ""
except ConfigError as caught:
    error = str(caught)
print(json.dumps({{"before": before, "after": sorted(POOLING_MODES), "error": error}}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("first", ["", "import baselines.training_free", "import reproduce.paper.methods"])
def test_every_process_knows_every_training_free_mode(first):
    """In a fresh process `t2t` registers last and mean itself; echo and Token Prepending come from
    `baselines.training_free`, imported directly, through `reproduce.paper.methods`, or (nothing imported)
    through the `t2t.core.plugins` bootstrap on first use. An unknown mode names the plugins."""
    out = subprocess.run(
        [sys.executable, "-c", REGISTRATION.format(first=first)],
        cwd=Path(__file__).parents[3],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["before"] == ["last", "mean"]
    assert result["after"] == sorted({*result["before"], *(mode.name for mode in TRAINING_FREE_MODES)})
    assert (
        "unknown pooling mode 'no-such-mode'" in result["error"]
        and "baselines.registration" in result["error"]
    )
