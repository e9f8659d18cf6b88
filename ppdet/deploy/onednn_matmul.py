"""A guard against a wrong fusion of Paddle 2.6.2's oneDNN passes: matmul + broadcast add.

``matmul_elementwise_add_mkldnn_fuse_pass`` folds an ``elementwise_add`` into the matmul
before it as oneDNN's residual input, and broadcasts the other operand from the trailing
dims whatever the add's ``axis`` says.  An add of a [C] bias to a [B, C, L] matmul output with
``axis=1`` (a 1x1 conv written as a matmul, or a classifier in NCHW order) then adds the bias
along L: the output is wrong, with no warning (max error 4.3 on unit-variance values,
``benchmarks/results/amx_cpu/decode_matmul_1206/matmul_add_axis.py``; right with the pass
deleted and on Paddle's own kernels).  No model of this project's families has such an add
today; a family of its own (``custom_imports``) may.  :func:`guard_matmul_add_fusion`
deletes the pass from a oneDNN config when the program has one, and leaves every other
program's passes as they are.
"""
import paddle

from ppdet.utils.static_graph import op_producers, static_mode

__all__ = ['FUSE_PASS', 'misaligned_matmul_adds', 'guard_matmul_add_fusion']

FUSE_PASS = 'matmul_elementwise_add_mkldnn_fuse_pass'
_MATMULS = frozenset(('matmul', 'matmul_v2', 'fused_matmul'))


def _aligned(block, add):
    axis = int(add.attr('axis')) if add.has_attr('axis') else -1
    if axis == -1:
        return True
    ranks = [len(block._find_var_recursive(add.input(k)[0]).shape) for k in ('X', 'Y')]
    return axis == abs(ranks[0] - ranks[1])


def misaligned_matmul_adds(block):
    """The ``elementwise_add`` ops of ``block`` that read a matmul's output and broadcast
    their other operand from an ``axis`` other than the trailing one (what the fuse pass
    gets wrong); -> their output names."""
    producers = op_producers(block)
    hits = []
    for op in block.ops:
        if op.type != 'elementwise_add' or _aligned(block, op):
            continue
        sources = [producers.get(op.input(k)[0]) for k in ('X', 'Y')]
        if any(src is not None and src.type in _MATMULS for src in sources):
            hits.append(op.output('Out')[0])
    return hits


def guard_matmul_add_fusion(config, model_file):
    """Delete :data:`FUSE_PASS` from ``config`` (a oneDNN Paddle Inference config) when the
    program in ``model_file`` has an add it would fuse wrongly; -> how many such adds."""
    with open(model_file, 'rb') as f:
        data = f.read()
    if b'matmul' not in data:
        return 0
    with static_mode():
        program = paddle.static.Program.parse_from_string(data)
        hits = misaligned_matmul_adds(program.global_block())
    if hits:
        config.delete_pass(FUSE_PASS)
    return len(hits)
