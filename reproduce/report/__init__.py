"""Writing outputs: table builders per kind of output, Markdown and LaTeX, figures, `claims.md`,
`results/README.md`, and `rebuild` (every file from manifests and stored files, no model). Imports
every layer below `run`.
"""
