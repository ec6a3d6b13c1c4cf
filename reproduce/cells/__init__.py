"""What fills an output's cells: manifests (which run fills which cell), the stored results they name
loaded once (`results.Results`), stored scores read into `Table`s, per-item resamples and seed
variances, and the integrity check of stored numbers. Reads the store; imports `paper` only.
"""
