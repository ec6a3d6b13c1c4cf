"""Performance and cost tools, apart from the paper's outputs (the rest of `reproduce/`).

- `costs`: what a plan costs on this machine, from what stored runs measured here (`--dry-run`),
  and the tokens each task's evaluation encodes;
- `gpu_hours`: the stated FLOP model of a plan's GPU-hours at `paper` scale (`--dry-run`, `--gpu`);
- `benchmark`: `nox -s benchmark` (encoding, scoring, training rates against the GEMM rate and peers);
- `paper_shape`: `nox -s paper-shape` (full-width paper shapes on a CPU or GPU: time and memory).
"""
