"""Step 2 of the llm2vec parity check: recompute everything with llm2vec 0.2.3 and compare.

    python baselines/parity/with_llm2vec.py --dir DIR     # in a venv with llm2vec 0.2.3, transformers 4.44.2

Reads what `python -m baselines.parity.ours --out DIR` wrote and, per case and attention
implementation (eager, sdpa), checks against llm2vec's own classes:

- hidden states: `LlamaBiModel` / `MistralBiModel` (chosen by `LLM2Vec._get_model_class`) on the
  same `input_ids`/`attention_mask` (unpadded, right- and left-padded), at the non-pad positions;
- MNTP loss: `LlamaBiForMNTP` / `MistralBiForMNTP` with `labels` (inherited `*ForCausalLM.forward`:
  logits at i-1 vs token at i, fp32 cross-entropy, mean over labelled positions) on the same batch;
- embeddings: `LLM2Vec.encode` (pooling "mean", no instruction: left padding with EOS, the mean over
  the text's own tokens, so BOS excluded) against our `mean_skip_bos=True` (must match) and
  `mean_skip_bos=False` (must match without BOS and differ with BOS);
- SimCSE: one step of llm2vec's `experiments/run_simcse.py` (attention dropout 0.3, each view through
  `LLM2Vec.forward`, `HardNegativeNLLLoss` at scale 20, `backward`) from the seed our side used, so
  the dropout masks are the same, against one step of our `SimCSEObjective`: the loss and the
  gradients of two decoder weights, on a batch of equal-length texts. Tokenised as `run_simcse`'s
  collator does (no instruction separator: the mean runs over every position, BOS included) it must
  match without BOS and differ with BOS, which our text-token mean leaves out; with the separator
  (text tokens only, as `LLM2Vec.encode`) it must match in every case; control: the same step
  without dropout must differ (our views really were dropped out);
- controls, which must differ (so the checks above could fail): llm2vec's causal `AutoModel`
  (`enable_bidirectional=False`) on our hidden states, and the MNTP logits scored without the shift;
- informational: a text over `doc_max_length=400` tokens, which llm2vec cuts word-wise and we do not.

Prints a table of max abs differences and exits 1 if any check fails. This file imports only torch,
transformers 4.44 and llm2vec (nothing from this repository), so it runs in llm2vec's environment.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch
import transformers
from llm2vec import LLM2Vec
from llm2vec.loss.HardNegativeNLLLoss import HardNegativeNLLLoss
from llm2vec.models import LlamaBiForMNTP, MistralBiForMNTP
from llm2vec.version import __version__ as llm2vec_version
from transformers import AutoConfig, AutoTokenizer

MNTP_CLASSES = {"llama": LlamaBiForMNTP, "mistral": MistralBiForMNTP}


def load(model_class, folder: Path, implementation: str):
    """`model_class.from_pretrained` in fp32, failing if any weight was not found in the folder."""
    model, info = model_class.from_pretrained(
        folder, attn_implementation=implementation, torch_dtype=torch.float32, output_loading_info=True
    )
    missing = [
        key for key in info["missing_keys"] if key != "lm_head.weight" or not model.config.tie_word_embeddings
    ]
    if missing or info["mismatched_keys"]:
        raise RuntimeError(f"{folder}: weights not loaded: {missing or info['mismatched_keys']}")
    return model.eval()


def masked_max_diff(ours: torch.Tensor, theirs: torch.Tensor, mask: torch.Tensor) -> float:
    """Max |ours - theirs| over positions where `mask` (batch, seq) is 1; tensors (batch, seq, dim)."""
    return float((ours - theirs).abs()[mask.bool()].max())


def tokenizer_rows(folder: Path, ours: dict, manifest: dict) -> list[tuple]:
    """transformers 4.44 tokenises the texts exactly as our side did; whether it adds BOS (info)."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "right"
    again = tokenizer(manifest["texts"], padding=True, return_tensors="pt")
    same = torch.equal(again["input_ids"], ours["hidden"]["batches"]["right-padded"]["input_ids"])
    adds_bos = bool((again["input_ids"][:, 0] == tokenizer.bos_token_id).all())
    return [
        ("tokenizer ids (4.44 vs 5.x)", "-", 0.0 if same else float("inf"), "<="),
        ("tokenizer adds BOS (1 = yes)", "-", float(adds_bos), "info"),
    ]


def hidden_rows(folder: Path, ours: dict, implementation: str) -> list[tuple]:
    """llm2vec's `*BiModel` on our batches; control: the causal `AutoModel` must differ from ours."""
    config_name = type(AutoConfig.from_pretrained(folder)).__name__
    rows = []
    for bidirectional in (True, False):
        model = load(LLM2Vec._get_model_class(config_name, bidirectional), folder, implementation)
        for name, batch in ours["hidden"]["batches"].items():
            if not bidirectional and name != "right-padded":
                continue
            with torch.no_grad():
                theirs = model(**batch).last_hidden_state
            diff = masked_max_diff(ours["hidden"][implementation][name], theirs, batch["attention_mask"])
            label = f"hidden {type(model).__name__} {name}" + ("" if bidirectional else " (control)")
            rows.append((label, implementation, diff, "<=" if bidirectional else ">"))
    return rows


def mntp_rows(case: dict, folder: Path, ours: dict, implementation: str) -> list[tuple]:
    """llm2vec's `*BiForMNTP` loss; control: the same logits scored without the i-1 shift must differ."""
    model = load(MNTP_CLASSES[case["architecture"]], folder, implementation)
    inputs, labels = ours["mntp"]["input_ids"], ours["mntp"]["labels"]
    with torch.no_grad():
        output = model(input_ids=inputs, attention_mask=torch.ones_like(inputs), labels=labels)
    unshifted = torch.nn.functional.cross_entropy(output.logits.flatten(0, 1).float(), labels.flatten())
    ours_loss = float(ours["mntp"]["loss"][implementation])
    name = type(model).__name__
    return [
        (f"MNTP loss {name} (= {float(output.loss):.6f})", implementation, abs(float(output.loss) - ours_loss), "<="),
        (f"MNTP loss without the i-1 shift (control, = {float(unshifted):.6f})", implementation,
         abs(float(unshifted) - ours_loss), ">"),
    ]  # fmt: skip


def load_mean_encoder(folder: Path, implementation: str, **config_overrides) -> LLM2Vec:
    """`LLM2Vec` with bidirectional attention and mean pooling in fp32, as the LLM2Vec baseline uses it."""
    return LLM2Vec.from_pretrained(
        str(folder),
        enable_bidirectional=True,
        pooling_mode="mean",
        attn_implementation=implementation,
        torch_dtype=torch.float32,
        **config_overrides,
    )


def encode_rows(folder: Path, ours: dict, manifest: dict, implementation: str, adds_bos: bool) -> list[tuple]:
    """`LLM2Vec.encode` (mean, no instruction) vs our mean pooling with and without `mean_skip_bos`."""
    encoder = load_mean_encoder(folder, implementation)
    if encoder.prepare_for_tokenization("x") != "x":
        raise RuntimeError(f"LLM2Vec wraps texts for {encoder.model.config._name_or_path!r}")
    theirs = encoder.encode(manifest["texts"], batch_size=32, show_progress_bar=False, device="cpu")
    long_theirs = encoder.encode([manifest["long_text"]], show_progress_bar=False, device="cpu")
    embeddings = ours["embeddings"][implementation]
    return [
        ("LLM2Vec.encode vs ours mean_skip_bos=True", implementation,
         float((embeddings["skip_bos=True"] - theirs).abs().max()), "<="),
        ("LLM2Vec.encode vs ours mean_skip_bos=False", implementation,
         float((embeddings["skip_bos=False"] - theirs).abs().max()), ">" if adds_bos else "<="),
        ("LLM2Vec.encode vs ours, text > doc_max_length", implementation,
         float((ours["long_text"][implementation] - long_theirs).abs().max()), "info"),
    ]  # fmt: skip


def simcse_rows(folder: Path, ours: dict, manifest: dict, implementation: str, adds_bos: bool) -> list[tuple]:
    """llm2vec's SimCSE step (`run_simcse.py`'s `compute_loss`) from our seed vs ours: loss, gradients.

    The model is loaded as `run_simcse.py` loads it (`attention_dropout` = the SimCSE dropout), put in
    train mode and seeded as our side was, so both draw the same dropout masks (see
    `baselines.parity.quantities.simcse_loss_and_gradients`). Two collations of the same batch:
    `run_simcse`'s (`LLM2Vec.tokenize` on the plain texts: the mean runs over every position, BOS
    included) must match ours without BOS and differ with it; with the instruction separator (the
    mean over the text's own tokens, as `LLM2Vec.encode`) it must match in every case.
    """
    encoder = load_mean_encoder(folder, implementation, attention_dropout=manifest["simcse_dropout"])
    encoder.train()
    weights = dict(encoder.model.named_parameters())
    mine = ours["simcse"][implementation]
    rows = []
    for name, separator in (("run_simcse collation", ""), ("text tokens only", "!@#$%^&*()")):
        encoder.zero_grad(set_to_none=True)
        texts = [separator + encoder.prepare_for_tokenization(t) for t in manifest["simcse_texts"]]
        torch.manual_seed(manifest["simcse_seed"])
        query, positive = encoder(encoder.tokenize(texts)), encoder(encoder.tokenize(texts))
        loss = HardNegativeNLLLoss(scale=20.0)(query, positive)
        loss.backward()
        loss = loss.detach()
        expect = ">" if separator == "" and adds_bos else "<="
        rows.append((f"SimCSE loss, {name} (= {float(loss):.6f})", implementation,
                     abs(float(loss) - float(mine["loss"])), expect))  # fmt: skip
        for weight in manifest["simcse_gradient_weights"]:
            diff = float((weights[weight].grad.float() - mine["grads"][weight]).abs().max())
            rows.append((f"SimCSE grad {weight}, {name}", implementation, diff, expect))
    encoder.eval()  # control: without dropout the views are equal and the loss must differ from ours
    with torch.no_grad():
        features = encoder.tokenize(["!@#$%^&*()" + t for t in manifest["simcse_texts"]])
        view = encoder(features)
        still = HardNegativeNLLLoss(scale=20.0)(view, view)
    rows.append((f"SimCSE loss without dropout (control, = {float(still):.6f})", implementation,
                 abs(float(still) - float(mine["loss"])), ">"))  # fmt: skip
    return rows


def check_case(case: dict, folder: Path, ours: dict, manifest: dict) -> list[tuple]:
    """Rows `(check, implementation, diff, expectation)` for one case; expectation '<=', '>' or 'info'."""
    rows = tokenizer_rows(folder, ours, manifest)
    adds_bos = rows[-1][2] == 1.0
    for implementation in manifest["attention_implementations"]:
        rows += hidden_rows(folder, ours, implementation)
        rows += mntp_rows(case, folder, ours, implementation)
        rows += encode_rows(folder, ours, manifest, implementation, adds_bos)
        rows += simcse_rows(folder, ours, manifest, implementation, adds_bos)
    return rows


def verdict(diff: float, expectation: str, tolerance: float) -> str:
    """`ok` when `diff` is within `tolerance` as expected (`<=`) or beyond it as expected (`>`)."""
    if expectation == "info":
        return "info"
    within = diff <= tolerance
    return "ok" if within == (expectation == "<=") else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="folder written by baselines.parity.ours")
    args = parser.parse_args(argv)
    manifest = json.loads((args.dir / "manifest.json").read_text())
    tolerance = manifest["tolerance"]
    transformers.logging.set_verbosity_error()  # 4.44's deprecation notices about its own internals
    warnings.filterwarnings("ignore", category=FutureWarning)
    print(
        f"ours: {manifest['versions']} | reference: llm2vec {llm2vec_version}, "
        f"transformers {transformers.__version__}, torch {torch.__version__} | tolerance {tolerance:g}"
    )
    header = f"{'case':<12} {'attention':<9} {'check':<64} {'max abs diff':>13} {'expect':>9} status"
    print(header + "\n" + "-" * len(header))
    failures = 0
    for case in manifest["cases"]:
        folder = args.dir / case["name"]
        ours = torch.load(folder / "outputs.pt", weights_only=True)
        for check, implementation, diff, expectation in check_case(case, folder / "model", ours, manifest):
            status = verdict(diff, expectation, tolerance)
            failures += status == "FAIL"
            expect = "info" if expectation == "info" else f"{expectation}{tolerance:g}"
            print(f"{case['name']:<12} {implementation:<9} {check:<64} {diff:>13.3e} {expect:>9} {status}")
    print(f"{failures} check(s) failed" if failures else "parity with llm2vec 0.2.3: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
