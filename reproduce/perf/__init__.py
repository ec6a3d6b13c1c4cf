"""Performance tools nothing else imports: `benchmark` (`nox -s benchmark`: encoding, scoring and
training rates against this machine's GEMM rate and peers) and `paper_shape` (`nox -s paper-shape`:
full-width paper shapes on a CPU or GPU, time and memory). The cost models the planner uses live in
`reproduce.plan` (`costs`, `gpu_hours`).
"""
