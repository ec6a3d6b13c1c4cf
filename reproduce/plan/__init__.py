"""Which runs an output needs and what they cost: the grid of runs per cell, the analysis runs, the
cost models (measured on this machine; FLOPs at paper scale) and the training budgets runs record.
Reads the store, writes nothing; imports `paper` and `cells`.
"""
