"""Which ops of a program run in bf16 under ``enable_mkldnn_bfloat16``: the network, not the
box decoding.

Paddle 2.6.2's bf16 placement marks ops by type: every op with a oneDNN bf16 kernel.  A
detector's decoding is made of the same types as its network (``elementwise_add``,
``scale``, ``concat``, ``clip``, ``reshape2``), so Paddle also runs in bf16 the adds that turn
a location and an offset into pixel coordinates.  bf16 keeps 8 significant bits: a
coordinate between 256 and 512 is rounded to 2 px, one above 512 to 4 px.  Measured on
FCOS R50-FPN at 800 (random weights, six photos): 17% of the fp32 detections kept their
box, against 94% with the decoding left in fp32, while a +-1 change of every input pixel
keeps 99% in fp32 (``benchmarks/results/second_cpu/bf16/decode_fp32``).  YOLOv3 decodes
in ``yolo_box``, which has no oneDNN kernel and was never affected.

So a bf16 predictor's program is marked here instead: an op runs in bf16 when it has a
oneDNN bf16 kernel and is a convolution or feeds one (directly or through other ops).
The decoding reads the last convolutions' outputs and feeds none, so it stays in fp32;
anchors and points are computed from constants and feed no convolution either.  Paddle's
own placement is then given an op type that no program has (:data:`PLACEMENT_OFF`), so it
adds nothing; its clean-up (a lone bf16 op between fp32 ones goes back to fp32) still runs.

It is faster too where Paddle's placement left part of the network in fp32: on
BlazeFace-Lite at 640 it ran 9 of the 49 convs and 25 element-wise ops in fp32 (60% of the
oneDNN time, 1.22x over fp32); marked here, every conv runs in bf16 (11% fp32, 1.74x).  On
the other models the speed is the same (oneDNN verbose and interleaved A/B in the same
results folder).
"""
import functools

from ppdet.deploy.program_fixes import CONV_OPS
from ppdet.utils.static_graph import op_producers

__all__ = ['bf16_kernel_ops', 'mark_network_bf16', 'PLACEMENT_OFF', 'MARK', 'is_marked']

# for Config.set_bfloat16_op: a type no program has, so Paddle's placement marks nothing
PLACEMENT_OFF = {'ppdet_network_marked_in_program'}
# the attribute (and value) Paddle's bf16 passes read
MARK = ('mkldnn_data_type', 'bfloat16')


@functools.lru_cache(maxsize=1)
def bf16_kernel_ops():
    """Op types this Paddle build has a oneDNN bf16 kernel for (its kernel registry)."""
    from paddle.base import core
    kernels = core._get_all_register_op_kernels('all')
    return frozenset(op for op, keys in kernels.items() if not op.endswith('_grad') and
                     any('ONEDNN' in k and 'bfloat16' in k for k in keys))


def mark_network_bf16(block):
    """Set ``mkldnn_data_type = bfloat16`` on the ops of ``block`` that have a oneDNN bf16
    kernel and are convolutions or feed one; -> how many were marked."""
    producers = op_producers(block)
    feeds_conv, stack = set(), [op for op in block.ops if op.type in CONV_OPS]
    while stack:
        op = stack.pop()
        if id(op) in feeds_conv:
            continue
        feeds_conv.add(id(op))
        stack.extend(producers[n] for n in op.input_arg_names if n in producers)
    kernels, marked = bf16_kernel_ops(), 0
    for op in block.ops:
        if id(op) in feeds_conv and op.type in kernels:
            op._set_attr(*MARK)
            marked += 1
    return marked


def is_marked(model_bytes):
    """Whether a serialized program carries bf16 marks (a byte search: no parsing)."""
    return MARK[1].encode() in model_bytes
