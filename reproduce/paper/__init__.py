"""What the paper asks: its outputs as data (`registry`), the scale presets, the methods a row can
name, and the numbers the paper and the baselines' authors reported. Imports nothing else of
`reproduce`.
"""
