"""Executing a plan: the runner (plan, execute, rebuild), the executors (inline, local workers,
Slurm), `--verify`, the analyses, `compare` and the multi-process training entry point. The top
layer of the pipeline: it may import every other.
"""
