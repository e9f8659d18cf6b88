"""The seed's benchmark tables, measured here (driven by ``benchmarks/*.py``).

* ``architecture``: GFLOPs and size of full-size configs pruned with the seed's
  strategies, beside the seed's figures.
* ``latency_sweep``: every exported row of the pipeline's ``results.json`` timed on every
  CPU runtime that applies to it (``runtimes``), after an agreement check.
* ``compression_report``: ``compression.md``, ``ap_vs_latency.png`` and ``latency.json``.
* ``seed_tables``: the seed's own numbers; ``cpu``: what the CPU can do for int8.
"""
