"""One run from spec to stored scores: `run.execute` (build, evaluate, store under the config hash),
the results store, integrity checks, pre-flight checks, and export/publish of a trained run.
"""
