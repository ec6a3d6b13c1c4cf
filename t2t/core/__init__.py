"""The foundation every other package of `t2t` stands on: frozen configs, errors, atomic writes and
locks, paths, hardware and provenance, fingerprints, the runtime, the plugin bootstrap, Hub access
and CLI helpers. Imports nothing else of `t2t`.
"""
