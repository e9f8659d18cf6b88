"""Reshapes of the decoding tail in place, for Paddle Inference on a CPU.

Paddle 2.6.2's ``reshape2`` copies its input into a new tensor, and Paddle Inference runs no
in-place pass on the CPU.  The NMS candidate bound reshapes the whole score tensor, [B, N, C]
to [B*N, C], before it gathers K rows of it: at 608 that is a copy of 22743 x 80 floats,
0.51 ms of a 25 ms r578@32 + int8 pass (2026-12-06, Intel Xeon with AMX, Paddle's profiler).
Nothing reads the score tensor after the reshape, so the reshape's output may be its input:
with the output renamed to the input the kernel only changes the dims (0.01 ms).

Only reshapes after the block's last convolution (or matmul) are renamed: the decoding
tail, where oneDNN's int8 passes quantize nothing (they may quantize a reshape between two
int8 ops); in a program with neither (NMS alone), any.
A reshape is left as it is when its input is fed, a weight, or read by any later op, or when
its output is fetched.  The rewrite is applied where the runtime is chosen (a oneDNN
:class:`ppdet.deploy.predictors.PaddlePredictor`, through
:func:`ppdet.deploy.onednn_group_norm.program_for_onednn`), to a temporary copy: the export
is not changed.
"""
from ppdet.deploy.program_fixes import CONV_OPS

__all__ = ['tail_reshapes_in_place']

# the ops oneDNN's int8 passes quantize, and around which they may quantize a reshape
_INT8_ANCHORS = frozenset(CONV_OPS + ('deformable_conv', 'matmul', 'matmul_v2', 'mul', 'fc'))


def _in_place(block, ops, i, fed):
    op = ops[i]
    if op.type != 'reshape2' or op.input('Shape') or op.input('ShapeTensor'):
        return False
    x, out = op.input('X')[0], op.output('Out')[0]
    if x in fed or x == out or block.var(x).persistable:
        return False
    later = ops[i + 1:]
    if any(x in o.input_arg_names or x in o.output_arg_names for o in later):
        return False
    return not any(o.type == 'fetch' and out in o.input_arg_names for o in later)


def tail_reshapes_in_place(block):
    """Rename the output of every ``reshape2`` after the last convolution or matmul of
    ``block`` (all of them when it has neither) to its input, where that is safe (module
    docstring), and the later ops' reads of it likewise;
    -> how many.  A program with sub-blocks is left alone (their ops read vars by name)."""
    if block.program.num_blocks > 1:
        return 0
    ops = list(block.ops)
    anchors = [i for i, op in enumerate(ops) if op.type in _INT8_ANCHORS]
    fed = {name for op in ops if op.type == 'feed' for name in op.output_arg_names}
    count = 0
    for i in range(anchors[-1] + 1 if anchors else 0, len(ops)):
        if not _in_place(block, ops, i, fed):
            continue
        x, out = ops[i].input('X')[0], ops[i].output('Out')[0]
        ops[i]._rename_output(out, x)
        for later in ops[i + 1:]:
            later._rename_input(out, x)
        block._remove_var(out)
        count += 1
    return count
