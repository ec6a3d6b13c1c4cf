"""Judging cells: degenerate runs (below their own backbone), paired comparisons with Holm's
procedure and their verdicts, and what would settle an inconclusive one. Imports `paper`, `cells`
and `plan` (the cost of more seeds).
"""
