"""A max over the innermost axis on Paddle's own kernel, for Paddle Inference with oneDNN.

The NMS candidate bound ranks boxes by their best class score, ``scores.max(axis=2)`` on
``[B, N, C]`` (``N`` = 22743 boxes x ``C`` = 80 classes for YOLOv3 at 608).  oneDNN's
``reduction`` primitive is slow on a short innermost axis: on one core 3.6 ms for that
tensor, where Paddle's own CPU kernel takes 1.2 ms (2026-12-06, Intel Xeon with AMX; an
AVX2 EPYC's oneDNN profile shows the same 3.3 ms).  That was 10% of an r578@32 + int8 pass
at 608 on the AMX CPU (34 ms), the largest fp32 primitive left in it.

``reduce_amax`` computes the same forward values as ``reduce_max`` (the two differ only in
how a gradient splits between ties) and has no oneDNN kernel, so renaming the op keeps it
on Paddle's kernel.  The rewrite is applied where the runtime is chosen (a oneDNN
:class:`ppdet.deploy.predictors.PaddlePredictor`, through
:func:`ppdet.deploy.onednn_group_norm.program_for_onednn`), to a temporary copy: the export
keeps ``reduce_max`` for the runtimes that convert it (Paddle-Lite, ONNX, TensorRT).
"""

__all__ = ['innermost_max_as_amax', 'has_reduce_max']


def _reduces_innermost(block, op):
    if op.attr('reduce_all'):
        return False
    dims = [int(d) for d in op.attr('dim') or []]
    rank = len(block.var(op.input('X')[0]).shape)
    return rank > 1 and len(dims) == 1 and dims[0] in (-1, rank - 1)


def innermost_max_as_amax(block):
    """Turn every ``reduce_max`` of ``block`` over the last axis alone into ``reduce_amax``
    (same attributes, same values); -> how many."""
    hits = [op for op in block.ops if op.type == 'reduce_max' and _reduces_innermost(block, op)]
    for op in hits:
        op.desc.set_type('reduce_amax')
    return len(hits)


def has_reduce_max(model_file):
    """Whether the saved program may hold a ``reduce_max`` (a byte search: no parsing)."""
    with open(model_file, 'rb') as f:
        return b'reduce_max' in f.read()
