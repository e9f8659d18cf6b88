"""Files made from an exported model and kept beside it: ``model.onnx`` (paddle2onnx),
``model_int8.onnx`` (onnxruntime's int8 model, ``post_quant.py --bench``),
``model_<target>.nb`` (Paddle-Lite's opt) and the PTQ per-layer reports
(:data:`REPORT_FILES`).  A new model written into the directory removes them all
(:func:`remove_derived`): a re-export left a PTQ model's reports beside an fp32 model.

Each is stamped (``<file>.source.json``) with the size and SHA-256 of the model files it was
made from, and is used again only while they match.  Dates are not enough: a model
replaced by a copy that keeps its dates (``tar``, ``cp -p``, ``rsync -a``) is older than the
cache, and the onnx and lite run modes ran the previous model's cache without a word
(audit 2026-12-05: 9 detections from onnx and lite, 100 from paddle, exit 0).
"""
import glob
import os

from ppdet.utils.fileio import file_sha256, read_json, write_json

__all__ = ['is_fresh', 'write_stamp', 'remove_derived', 'DERIVED_PATTERNS', 'REPORT_FILES']

STAMP_SUFFIX = '.source.json'
# the per-layer reports of a PTQ model (ppdet.slim.quant_report writes them)
REPORT_FILES = ('quant_report.json', 'quant_report.md', 'quant_report_deployed.json',
                'quant_report_deployed.md')
DERIVED_PATTERNS = ('model.onnx', 'model_int8.onnx', 'model_*.nb') + REPORT_FILES


def source_stamp(sources):
    """{file name: [size, sha256]} of ``sources``."""
    return {os.path.basename(s): [os.path.getsize(s), file_sha256(s)] for s in sources}


def is_fresh(path, sources):
    """Whether ``path`` exists and was made from exactly these ``sources`` (its stamp)."""
    stamp = path + STAMP_SUFFIX
    if not (os.path.isfile(path) and os.path.isfile(stamp)):
        return False
    try:
        return read_json(stamp) == source_stamp(sources)
    except ValueError:      # a damaged stamp: make the file again
        return False


def write_stamp(path, sources):
    """Record that ``path`` was made from ``sources`` (after it is written)."""
    write_json(path + STAMP_SUFFIX, source_stamp(sources))


def remove_derived(model_dir):
    """Remove the files made from the model that ``model_dir`` held, and their stamps (a new
    model is written there); -> the names removed."""
    removed = []
    for pattern in DERIVED_PATTERNS:
        for suffix in ('', STAMP_SUFFIX):
            for path in sorted(glob.glob(os.path.join(str(model_dir), pattern + suffix))):
                if os.path.isfile(path) or os.path.islink(path):
                    os.remove(path)
                    removed.append(os.path.basename(path))
    return removed
