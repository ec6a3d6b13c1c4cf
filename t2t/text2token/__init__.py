"""Text2Token itself (PAPER.md §1-3): data-driven and model-derived targets, the sparse KL loss,
its training objectives and its paper recipes, and `inspect_targets` (what the targets look like).
"""
