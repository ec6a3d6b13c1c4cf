"""Step 1 of the llm2vec parity check: save the tiny models and our outputs into one folder.

    python -m baselines.parity.ours --out DIR

For each case (tiny Llama and tiny Mistral, each with the SmolLM2 tokenizer as is, which adds no
BOS, and with a copy that prepends BOS) it writes:

    DIR/<case>/model/      weights + tokenizer, config rewritten for transformers 4.44 (`legacy`)
    DIR/<case>/outputs.pt  our hidden states, MNTP batch and losses, mean-pooled embeddings,
                           SimCSE losses and gradients
    DIR/manifest.json      cases, texts, attention implementations, tolerance, versions

Everything is computed under both `eager` and `sdpa` attention (the weights are the same: the tiny
presets are seeded). The reference step (`baselines/parity/with_llm2vec.py`) reads only these files.

Conventions. We right-pad (`Embedder`); `LLM2Vec.encode` left-pads with EOS. Both number positions
0..seq-1 including pads, so a left-padded text sits at shifted positions: RoPE makes attention
depend on relative positions only, so the two agree up to float rounding (~1e-7 here). The mean
follows llm2vec: text tokens only, BOS excluded (`PoolingSpec(mean_skip_bos=True)`, the LLM2Vec
recipe's pooling); the BOS cases show that `mean_skip_bos=False` (Text2Token's) differs.

Known differences, not asserted: llm2vec cuts texts over `doc_max_length=400` tokens word-wise
(`LLM2Vec._convert_to_str`), our `Embedder` truncates at `max_length` tokens (an info row, below).
With a Mistral `sliding_window` shorter than the text, transformers 5 applies a bidirectional
sliding window, while `MistralBiModel` attends to everything; not exercised (tiny-mistral's window,
4096, exceeds its 2048 positions; Mistral-7B-Instruct-v0.2 has none).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
from pathlib import Path

import torch
import transformers
from tokenizers.processors import TemplateProcessing

from baselines.mntp import mntp_loss
from baselines.parity.legacy import rewrite_for_transformers_4
from baselines.parity.quantities import (
    SIMCSE_GRADIENT_WEIGHTS,
    SIMCSE_SEED,
    hidden_state_batches,
    hidden_states,
    mean_embeddings,
    mntp_batch,
    simcse_loss_and_gradients,
)
from baselines.simcse import SimCSEConfig
from t2t.models.backbones import load_backbone

logger = logging.getLogger(__name__)

TOLERANCE = 1e-5  # max abs difference allowed between our numbers and llm2vec's (fp32, CPU)
ATTENTION_IMPLEMENTATIONS = ("eager", "sdpa")
TEXTS = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "A man is playing a guitar.",
    "Bidirectional attention lets every token see the whole sentence, left and right.",
    "Hi",
)
# SimCSE batch: texts with equal token counts (7 with the SmolLM2 tokenizer; checked when written),
# so that no padding moves llm2vec's dropout masks (it left-pads, we right-pad) onto other tokens;
# near-duplicates, so the random tiny models embed them close and the loss and gradients are not ~0.
SIMCSE_TEXTS = (
    "A man is playing a guitar.",
    "A man is playing a piano.",
    "A man is playing a flute.",
    "A man is playing a drum.",
)
# 600 words, 660 tokens: llm2vec's `doc_max_length=400` cuts it word-wise to <= 400 tokens, our
# Embedder (max_length=512) keeps 512. An informational row, not a parity assertion.
LONG_TEXT = " ".join(["Every word of this long document counts toward its length."] * 60)


@dataclasses.dataclass(frozen=True)
class ParityCase:
    """One model folder: a tiny preset with the plain tokenizer, or with one that prepends BOS."""

    name: str
    preset: str
    architecture: str
    bos: bool

    @property
    def name_or_path(self) -> str:
        """Saved as `_name_or_path`; not an instruct model's id, so LLM2Vec adds no chat markup."""
        return f"t2t-parity/{self.name}"


CASES = (
    ParityCase("llama", "tiny-llama", "llama", bos=False),
    ParityCase("llama-bos", "tiny-llama", "llama", bos=True),
    ParityCase("mistral", "tiny-mistral", "mistral", bos=False),
    ParityCase("mistral-bos", "tiny-mistral", "mistral", bos=True),
)


def with_bos(tokenizer):
    """A copy of a fast tokenizer whose post-processor prepends its BOS token (as Llama-3's does).

    The SmolLM2 tokenizer of the tiny presets adds no BOS; this copy exercises the BOS convention of
    mean pooling. The template lives in `tokenizer.json`, which transformers 4.44 and 5 both apply.
    """
    tokenizer = copy.deepcopy(tokenizer)
    bos = tokenizer.bos_token
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.bos_token_id)]
    )
    if tokenizer("x").input_ids[0] != tokenizer.bos_token_id:
        raise RuntimeError("the BOS template did not take effect")
    return tokenizer


def case_outputs(case: ParityCase, folder: Path) -> dict:
    """Save the case's model folder and return our outputs for it (see `baselines.parity.quantities`)."""
    outputs: dict = {"hidden": {}, "mntp": {"loss": {}}, "embeddings": {}, "long_text": {}, "simcse": {}}
    reference_weights = None
    for implementation in ATTENTION_IMPLEMENTATIONS:
        model, tokenizer = load_backbone(
            case.preset, attention="bidirectional", attn_implementation=implementation
        )
        tokenizer = with_bos(tokenizer) if case.bos else tokenizer
        weights = model.state_dict()
        if reference_weights is None:
            reference_weights = weights
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            rewrite_for_transformers_4(folder, case.name_or_path)
            batches = hidden_state_batches(tokenizer, TEXTS)
            mntp_inputs, mntp_labels = mntp_batch(tokenizer, case.architecture, TEXTS)
            outputs["hidden"]["batches"] = batches
            outputs["mntp"].update(input_ids=mntp_inputs, labels=mntp_labels)
            lengths = {len(ids) for ids in tokenizer(list(SIMCSE_TEXTS)).input_ids}
            if len(lengths) != 1:
                raise RuntimeError(f"SIMCSE_TEXTS must tokenise to equal lengths, got {sorted(lengths)}")
        elif any(not torch.equal(weights[key], reference_weights[key]) for key in weights):
            raise RuntimeError(f"{case.preset} is not deterministic across attention implementations")
        outputs["hidden"][implementation] = {name: hidden_states(model, b) for name, b in batches.items()}
        with torch.inference_mode():
            outputs["mntp"]["loss"][implementation] = mntp_loss(model, mntp_inputs, mntp_labels).float()
        outputs["embeddings"][implementation] = {
            f"skip_bos={skip}": mean_embeddings(model, tokenizer, TEXTS, skip_bos=skip)
            for skip in (True, False)
        }
        outputs["long_text"][implementation] = mean_embeddings(model, tokenizer, [LONG_TEXT], skip_bos=True)
        outputs["simcse"][implementation] = simcse_loss_and_gradients(model, tokenizer, SIMCSE_TEXTS)
    return outputs


def write_parity_folder(out: Path) -> Path:
    """Write every case's model folder and outputs, then `manifest.json`; returns the manifest path."""
    out.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        logger.info("case %s", case.name)
        outputs = case_outputs(case, out / case.name / "model")
        torch.save(outputs, out / case.name / "outputs.pt")
    manifest = {
        "cases": [dataclasses.asdict(case) | {"name_or_path": case.name_or_path} for case in CASES],
        "texts": list(TEXTS),
        "long_text": LONG_TEXT,
        "simcse_texts": list(SIMCSE_TEXTS),
        "simcse_gradient_weights": list(SIMCSE_GRADIENT_WEIGHTS),
        "simcse_seed": SIMCSE_SEED,
        "simcse_dropout": SimCSEConfig().dropout,
        "attention_implementations": list(ATTENTION_IMPLEMENTATIONS),
        "tolerance": TOLERANCE,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write models and outputs into")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    transformers.utils.logging.disable_progress_bar()
    print(f"wrote {write_parity_folder(args.out)}")


if __name__ == "__main__":
    main()
