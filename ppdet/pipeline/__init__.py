"""The demo orchestration: the main job on the built-in dataset (``tools/pipeline.py``).

``main_job`` runs the stages (data, train, prune, quantize, distill) into one resumable
``results.json``, which records the settings its work dir was started with (``face_job`` and
``dense_job``: the BlazeFace and RetinaNet / FCOS jobs on the same stages); ``results_table``
formats what it measured.
"""
