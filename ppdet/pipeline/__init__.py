"""The demo orchestration: the main job on the built-in dataset (``tools/pipeline.py``).

``main_job`` runs the stages (data, train, prune, quantize, distill) into one resumable
``results.json``; ``results_table`` formats what it measured.
"""
