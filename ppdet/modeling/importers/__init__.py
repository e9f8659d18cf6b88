"""Importers: released weights of other frameworks mapped onto this package's models by
structure (each module reads one source format and fails on anything it cannot place)."""
