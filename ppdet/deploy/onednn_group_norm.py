"""GroupNorm as ops oneDNN runs, for Paddle Inference on a CPU with oneDNN.

Paddle 2.6.2 has no oneDNN ``group_norm`` kernel.  In a oneDNN graph the conv before it
writes its output channels-last, so every ``group_norm`` costs a reorder to NCHW, Paddle's
own scalar kernel and a reorder back (FCOS's head at 800: 40 calls, 111-149 ms of a
785-966 ms int8 pass plus 96 fp32 reorders, 81 ms).  The same numbers come from ops that
oneDNN runs in whatever layout the conv left:

    m_c  = avg_pool(x)            e_c = avg_pool(x * x)         (per channel, [N, C, 1, 1])
    m_g  = mean of m_c over each group's channels, e_g likewise      ([N, G, 1])
    inv  = 1 / sqrt(relu(e_g - m_g^2) + eps)
    y    = x * (inv * gamma) + (beta - m_g * inv * gamma)            ([N, C, 1, 1] each)

Paddle's own CPU kernel computes the variance as ``E[x^2] - E[x]^2`` too.  Every
statistic is per sample, so the rewrite is exact for any batch size.

The rewrite is applied where the runtime is chosen (:class:`ppdet.deploy.predictors.
PaddlePredictor` on a CPU with oneDNN, :func:`program_for_onednn`), to a temporary copy of
the program: an export keeps its ``group_norm`` for the runtimes that have a kernel for it
(GPU / TensorRT, onnxruntime's InstanceNormalization, Paddle-Lite).
"""
import os

import paddle

from ppdet.deploy.onednn_bf16 import mark_network_bf16
from ppdet.deploy.onednn_reduce import innermost_max_as_amax
from ppdet.deploy.onednn_reshape import tail_reshapes_in_place
from ppdet.utils.fileio import temp_copy
from ppdet.utils.static_graph import op_consumers, static_mode

__all__ = ['group_norms_as_pools', 'program_for_onednn', 'has_group_norm']


def _rewritable(block, op):
    """(channels, groups) of a ``group_norm`` the rewrite handles, else None."""
    if op.attr('data_layout') != 'NCHW' or not op.input('Scale') or not op.input('Bias'):
        return None
    shape = block.var(op.input('X')[0]).shape
    groups = int(op.attr('groups'))
    if len(shape) != 4 or shape[1] is None or shape[1] <= 0 or shape[1] % groups:
        return None
    return int(shape[1]), groups


class _Builder(object):
    """Inserts ops into ``block`` before index ``at``, each writing a new float32 var."""

    def __init__(self, block, at, prefix):
        self.block, self.at, self.prefix, self.count = block, at, prefix, 0

    def var(self, shape):
        self.count += 1
        return self.block.create_var(name='%s.gn%d' % (self.prefix, self.count), shape=shape,
                                     dtype='float32')

    def op(self, op_type, inputs, attrs, shape, out_key='Out', extra_outputs=()):
        out = self.var(shape)
        outputs = {out_key: [out.name]}
        for key in extra_outputs:
            outputs[key] = [self.var([0]).name]
        self.block._insert_op(self.at, type=op_type, inputs=inputs, outputs=outputs,
                              attrs=attrs)
        self.at += 1
        return out.name

    def pool(self, x, c):
        return self.op('pool2d', {'X': [x]}, {
            'pooling_type': 'avg', 'ksize': [1, 1], 'global_pooling': True, 'adaptive': False,
            'strides': [1, 1], 'paddings': [0, 0], 'exclusive': True, 'ceil_mode': False,
            'data_format': 'NCHW', 'padding_algorithm': 'EXPLICIT'}, [-1, c, 1, 1])

    def reshape(self, x, shape):
        return self.op('reshape2', {'X': [x]}, {'shape': list(shape)},
                       [-1 if s == 0 else s for s in shape], extra_outputs=('XShape',))

    def binary(self, op_type, x, y, shape):
        return self.op(op_type, {'X': [x], 'Y': [y]}, {'axis': -1}, shape)

    def unary(self, op_type, x, shape, **attrs):
        return self.op(op_type, {'X': [x]}, attrs, shape)

    def twin(self, x, shape, copy):
        """``x`` as the second operand of ``x * x``: itself, or with ``copy`` a copy of it.
        Paddle 2.6.2's bf16 pass converts only one input of an op that reads the same var
        twice, and the mul then fails ("variable Y is not found"); the copy (a oneDNN
        ``scale`` by 1) costs a pass over the map, so only bf16 programs get it."""
        if not copy:
            return x
        return self.unary('scale', x, shape, scale=1.0, bias=0.0, bias_after_scale=True)


def _replace(block, op, channels, groups, bf16=False):
    x, y = op.input('X')[0], op.output('Y')[0]
    gamma, beta = op.input('Scale')[0], op.input('Bias')[0]
    eps = float(op.attr('epsilon'))
    at = [i for i, o in enumerate(block.ops) if o is op][0]
    per = channels // groups
    block._remove_op(at)                       # its Y stays declared: the last op writes it
    b = _Builder(block, at, y)
    grouped, col = [-1, groups, per], [-1, groups, 1]
    m_g = b.op('reduce_mean', {'X': [b.reshape(b.pool(x, channels), [0, groups, per])]},
               {'dim': [2], 'keep_dim': True, 'reduce_all': False}, col)
    sq = b.binary('elementwise_mul', x, b.twin(x, [-1, channels, -1, -1], bf16),
                  [-1, channels, -1, -1])
    e_g = b.op('reduce_mean', {'X': [b.reshape(b.pool(sq, channels), [0, groups, per])]},
               {'dim': [2], 'keep_dim': True, 'reduce_all': False}, col)
    var = b.unary('relu', b.binary('elementwise_sub', e_g,
                                   b.binary('elementwise_mul', m_g, b.twin(m_g, col, bf16), col),
                                   col), col)
    inv = b.unary('rsqrt', b.unary('scale', var, col, scale=1.0, bias=eps,
                                   bias_after_scale=True), col)
    scale = b.binary('elementwise_mul', inv, b.reshape(gamma, [1, groups, per]), grouped)
    shift = b.binary('elementwise_sub', b.reshape(beta, [1, groups, per]),
                     b.binary('elementwise_mul', m_g, scale, grouped), grouped)
    scaled = b.binary('elementwise_mul', x, b.reshape(scale, [0, channels, 1, 1]),
                      [-1, channels, -1, -1])
    shift = b.reshape(shift, [0, channels, 1, 1])     # (b.at moves: not inside the call)
    block._insert_op(b.at, type='elementwise_add', inputs={'X': [scaled], 'Y': [shift]},
                     outputs={'Out': [y]}, attrs={'axis': -1})


def group_norms_as_pools(block, bf16=False):
    """Replace every rewritable ``group_norm`` of ``block`` (NCHW, with scale and bias,
    static channel count) whose ``Mean`` / ``Variance`` outputs nothing reads; -> how
    many.  ``bf16``: for a predictor with ``enable_mkldnn_bfloat16`` (see
    :meth:`_Builder.twin`)."""
    readers = op_consumers(block)
    hits = []
    for op in block.ops:
        if op.type != 'group_norm':
            continue
        shape = _rewritable(block, op)
        if shape and not any(readers.get(op.output(k)[0]) for k in ('Mean', 'Variance')):
            hits.append((op, shape))
    for op, (channels, groups) in hits:
        _replace(block, op, channels, groups, bf16)
    return len(hits)


def has_group_norm(model_file):
    """Whether the saved program may hold a ``group_norm`` (a byte search: no parsing)."""
    with open(model_file, 'rb') as f:
        return b'group_norm' in f.read()


def program_for_onednn(model_file, bf16=False, group_norm=True, reduce_max=True,
                       reshape_in_place=True):
    """The program a oneDNN predictor runs: a rewritten copy of ``model_file`` when there is
    something to rewrite, else the file itself.  ``group_norm``: its rewritable
    ``group_norm`` ops as oneDNN ops (:func:`group_norms_as_pools`); ``reduce_max``: its
    maxima over the innermost axis on Paddle's own kernel, 3x faster than oneDNN's
    (:mod:`ppdet.deploy.onednn_reduce`); ``reshape_in_place``: the decoding tail's reshapes
    without a copy (:mod:`ppdet.deploy.onednn_reshape`); ``bf16``: the predictor runs with
    ``enable_mkldnn_bfloat16``, so the network's ops are marked bf16 and the box decoding
    is left in fp32 (:mod:`ppdet.deploy.onednn_bf16`).

    -> (path of the program, its temporary directory or None, how many ``group_norm`` ops
    were rewritten).  The caller removes the directory once the predictor has read the
    file."""
    with open(model_file, 'rb') as f:
        data = f.read()
    group_norm = group_norm and b'group_norm' in data
    reduce_max = reduce_max and b'reduce_max' in data
    reshape_in_place = reshape_in_place and b'reshape2' in data
    if not (group_norm or bf16 or reduce_max or reshape_in_place):
        return model_file, None, 0
    with static_mode():
        program = paddle.static.Program.parse_from_string(data)
        block = program.global_block()
        rewritten = group_norms_as_pools(block, bf16) if group_norm else 0
        maxima = innermost_max_as_amax(block) if reduce_max else 0
        marked = mark_network_bf16(block) if bf16 else 0
        in_place = tail_reshapes_in_place(block) if reshape_in_place else 0
        if not (rewritten or marked or maxima or in_place):
            return model_file, None, 0
        data = program.desc.serialize_to_string()
    path, tmp = temp_copy(os.path.basename(model_file), data, 'ppdet_onednn_')
    return path, tmp, rewritten
