"""A QAT export's ``conv -> output observer -> batch_norm`` on onnxruntime, without the clipping
paddle2onnx puts there.

Trap (paddle2onnx 1.3.1): a QAT export runs ``conv -> quantize_linear / dequantize_linear ->
batch_norm -> relu``; the pair is the conv's output observer, its scale taken *before* the BN
(the model QAT trained only observed there, see :mod:`ppdet.slim.qat_simulation`).
paddle2onnx drops the pair, folds the BN into the conv and puts the pair back on the folded
conv's output with that pre-BN scale, so every post-BN value is clipped at the pre-BN range
and rounded on its grid.  BlazeFace's first BN multiplies by 1.08-6.2: ``relu_0`` was clipped
from 5.93 to 2.705 and ONNX lost most faces, silently (audit: WIDER Easy 0.167 with Paddle,
0.033 with ONNX on the same export; raw-score cosine to Paddle 0.898).  RetinaNet's and
FCOS's BNs shrink (0.24-0.56): they only lost resolution.

:func:`program_for_onnx` hands paddle2onnx a temporary copy of the program (the export and
its parameter file are not changed) in which each such BN (:func:`observed_batch_norms`)

* whose output goes through a ``relu`` (or ``leaky_relu``) only into the next layers'
  quantizers (of one scale) is quantized by that quantizer instead of the observer, which
  goes: paddle2onnx folds the BN and requantizes the folded conv with the next layer's input
  scale, as Paddle's oneDNN int8 kernels do and as the model trained (a ``relu`` commutes
  with that rounding; before a leaky ReLU the negative side is rounded once more, by at most
  ``alpha`` / 2 of a step, and clipped at minus the scale).  onnxruntime runs it as one int8
  ``QLinearConv``, as before;
* any other (a residual add after it: no later quantizer stands in for it) is written as
  ``x * f + (beta - mean * f)``, ``f = gamma / sqrt(var + eps)``, by ops on the BN's own
  parameters, which paddle2onnx does not fold: the observer stays in front of the BN, as in
  Paddle's graph.  :func:`restore_batch_norms` then turns each ``Mul`` + ``Add`` back into
  one ``BatchNormalization`` (as Mul + Add they cost BlazeFace 30% more time at 320).

BNs whose output has its own quantizer are left to paddle2onnx, which requantizes the folded
conv with it.  Measured on BlazeFace / BlazeFace-Lite QAT exports (240 synthetic faces, 30
epochs + 3 of QAT, 30 val images): head-score SNR to Paddle's int8 run 14.6 / 9.1 dB before,
19.0 / 15.9 dB after (Paddle's own fake-quant graph: 17.9 / 15.9 dB); onnxruntime time (1
thread) within -3% .. +7% of before on BlazeFace, YOLOv3-MobileNetV1 and RetinaNet exports
(keeping every observer and BN instead: YOLOv3 +30% at 320).
"""
import os

__all__ = ['observed_batch_norms', 'rewrite_for_onnx', 'program_for_onnx',
           'restore_batch_norms', 'QAT_BN_MARK']

CONV_OPS = ('conv2d', 'depthwise_conv2d')
# in the names of the vars and nodes the rewrite makes, and the key of the metadata entry
# every conversion of a program with such BNs carries (ppdet.deploy.onnx reconverts a cached
# model.onnx of one without it: made before the fix)
QAT_BN_MARK = 'ppdet_qat_bn'


def _args(op, slot):
    """The var names of ``op``'s input or output ``slot`` (a ``framework_pb2.OpDesc``)."""
    for var in list(op.inputs) + list(op.outputs):
        if var.parameter == slot:
            return list(var.arguments)
    return []


def _attr(op, name):
    return next((a for a in op.attrs if a.name == name), None)


def observed_batch_norms(desc):
    """The ``batch_norm`` ops of the program ``desc`` (a ``ProgramDesc``) that read a conv's
    output through its observer pair alone, and whose output no quantizer reads: those
    paddle2onnx clips.  -> one dict each: the BN's var names (``X Y Scale Bias Mean
    Variance``), ``epsilon``, ``ops`` (indices in block 0 of the observer's quantize and
    dequantize ops and of the BN) and ``requantize``: for a BN followed by a ``relu`` (or
    ``leaky_relu``) whose output quantizers of one scale (and float readers) read, the
    indices of the activation, of one of those quantize ops and of its dequantize op, else
    None."""
    ops = list(desc.blocks[0].ops)
    writer, readers = {}, {}
    for i, op in enumerate(ops):
        for var in op.outputs:
            for name in var.arguments:
                writer[name] = i
        for var in op.inputs:
            for name in var.arguments:
                readers.setdefault(name, []).append(i)

    def sole_writer(name, op_type):
        """The index of the ``op_type`` op writing ``name`` if nothing else reads it."""
        i = writer.get(name)
        if i is None or ops[i].type != op_type or len(readers.get(name, [])) != 1:
            return None
        return i

    found = []
    for b, bn in enumerate(ops):
        if bn.type != 'batch_norm':
            continue
        layout = _attr(bn, 'data_layout')
        if layout is not None and layout.s not in ('NCHW', 'AnyLayout'):
            continue
        entry = {k: (_args(bn, k) or [None])[0]
                 for k in ('X', 'Y', 'Scale', 'Bias', 'Mean', 'Variance')}
        if None in entry.values():
            continue
        dq = sole_writer(entry['X'], 'dequantize_linear')
        q = sole_writer(_args(ops[dq], 'X')[0], 'quantize_linear') if dq is not None else None
        if q is None or len(readers.get(_args(ops[q], 'X')[0], [])) != 1:
            continue
        src = writer.get(_args(ops[q], 'X')[0])
        if src is not None and ops[src].type == 'elementwise_add':    # a conv's bias add
            src = writer.get((_args(ops[src], 'X') or [None])[0])
        if src is None or ops[src].type not in CONV_OPS:
            continue
        after = [ops[i] for i in readers.get(entry['Y'], [])]
        if any(op.type == 'quantize_linear' for op in after):
            continue
        eps = _attr(bn, 'epsilon')
        entry.update(epsilon=float(eps.f) if eps is not None else 1e-5, ops=(q, dq, b),
                     requantize=_next_quantizer(ops, readers, entry['Y']))
        found.append(entry)
    return found


def _next_quantizer(ops, readers, bn_out):
    """(activation, quantize, dequantize) indices when ``bn_out`` goes only into a ``relu``
    (or a ``leaky_relu`` of slope <= 1) whose output every quantizer reading it quantizes
    with one per-tensor scale, else None."""
    after = readers.get(bn_out, [])
    if len(after) != 1 or ops[after[0]].type not in ('relu', 'leaky_relu'):
        return None
    relu = after[0]
    alpha = _attr(ops[relu], 'alpha')
    if ops[relu].type == 'leaky_relu' and not (alpha is not None and 0 <= alpha.f <= 1):
        return None
    quantizers = [i for i in readers.get(_args(ops[relu], 'Out')[0], [])
                  if ops[i].type == 'quantize_linear']
    if not quantizers:
        return None
    keys = set()
    for i in quantizers:
        axis = _attr(ops[i], 'quant_axis')
        keys.add((tuple(_args(ops[i], 'Scale')), tuple(_args(ops[i], 'ZeroPoint')),
                  axis.i if axis is not None else -1))
    if len(keys) != 1 or list(keys)[0][2] != -1:
        return None
    q = quantizers[0]
    dqs = [i for i in readers.get(_args(ops[q], 'Y')[0], []) if ops[i].type == 'dequantize_linear']
    return (relu, q, dqs[0]) if dqs else None


def rewrite_for_onnx(block, found):
    """Rewrite ``block`` (the Paddle ``Block`` of the program ``found`` was read from) as the
    module doc says; -> (how many BNs were requantized, how many unfolded)."""
    ops = list(block.ops)
    requantized = unfolded = 0
    for bn in found:
        if bn['requantize'] is not None:
            _requantize(block, ops, bn)
            requantized += 1
        else:
            _unfold(block, ops[bn['ops'][2]], bn)
            unfolded += 1
    return requantized, unfolded


def _index(block, op):
    return next(i for i, o in enumerate(block.ops) if o is op)


def _copy_attrs(op):
    return {n: op.attr(n) for n in op.attr_names if not n.startswith('op_')}


def _requantize(block, ops, bn):
    """Drop the observer in front of the BN; quantize the BN's output with the next layer's
    quantizer, in front of the relu."""
    q, dq, bn_op = [ops[i] for i in bn['ops']]
    relu, next_q, next_dq = [ops[i] for i in bn['requantize']]
    bn_op._rename_input(bn['X'], q.input('X')[0])
    block._remove_op(_index(block, dq))
    block._remove_op(_index(block, q))
    y = block.var(bn['Y'])
    names = []
    for suffix in ('quantized', 'dequantized'):
        names.append(block.create_var(name='%s.%s.%s' % (bn['Y'], QAT_BN_MARK, suffix),
                                      shape=y.shape, dtype=y.dtype).name)
    at = _index(block, relu)
    scale = {'Scale': next_q.input('Scale'), 'ZeroPoint': next_q.input('ZeroPoint')}
    block._insert_op(at, type='quantize_linear', inputs=dict(scale, X=[bn['Y']]),
                     outputs={'Y': [names[0]]}, attrs=_copy_attrs(next_q))
    block._insert_op(at + 1, type='dequantize_linear', inputs=dict(scale, X=[names[0]]),
                     outputs={'Y': [names[1]]}, attrs=_copy_attrs(next_dq))
    relu._rename_input(bn['Y'], names[1])


def _unfold(block, op, bn):
    """Replace the ``batch_norm`` ``op`` by ``x * f + (beta - mean * f)``, ``f`` and the
    shift computed by ops from its parameters; its ``Y`` keeps its name."""
    channels = list(block.var(bn['Scale']).shape)
    at = _index(block, op)
    block._remove_op(at)                       # its Y stays declared: the last op writes it
    made = []

    def emit(op_type, inputs, suffix, shape=channels, out=None, **attrs):
        out = out or block.create_var(name='%s.%s.%s' % (bn['Y'], QAT_BN_MARK, suffix),
                                      shape=shape, dtype='float32').name
        made.append((op_type, inputs, out, attrs))
        return out
    std = emit('sqrt', {'X': [emit('scale', {'X': [bn['Variance']]}, 'var_eps', scale=1.0,
                                   bias=bn['epsilon'], bias_after_scale=True)]}, 'std')
    f = emit('elementwise_div', {'X': [bn['Scale']], 'Y': [std]}, 'factor', axis=-1)
    shift = emit('elementwise_sub', {'X': [bn['Bias']], 'Y': [emit(
        'elementwise_mul', {'X': [bn['Mean']], 'Y': [f]}, 'mean_factor', axis=-1)]},
        'shift', axis=-1)
    scaled = emit('elementwise_mul', {'X': [bn['X']], 'Y': [f]}, 'scaled',
                  shape=list(block.var(bn['Y']).shape), axis=1)
    emit('elementwise_add', {'X': [scaled], 'Y': [shift]}, None, out=bn['Y'], axis=1)
    for k, (op_type, inputs, out, attrs) in enumerate(made):
        block._insert_op(at + k, type=op_type, inputs=inputs, outputs={'Out': [out]},
                         attrs=attrs)


def program_for_onnx(model_file, found):
    """The program paddle2onnx should convert: a copy of ``model_file`` rewritten for the
    BNs ``found`` (:func:`observed_batch_norms`), or the file itself when there are none.
    -> (path, its temporary directory or None); the caller removes the directory after the
    conversion."""
    from ppdet.utils.fileio import temp_copy
    from ppdet.utils.static_graph import static_mode
    if not found:
        return model_file, None
    import paddle
    with open(model_file, 'rb') as f:
        data = f.read()
    with static_mode():
        program = paddle.static.Program.parse_from_string(data)
        rewrite_for_onnx(program.global_block(), found)
        data = program.desc.serialize_to_string()
    return temp_copy(os.path.basename(model_file), data, 'ppdet_onnx_')


def _constant_sources(nodes, initializers):
    """{tensor: the constant tensors (initializers, ``Constant`` outputs) it is computed
    from} for every tensor computed from constants alone (``nodes`` in topological order)."""
    sources = {i.name: {i.name} for i in initializers}
    for n in nodes:
        if n.op_type == 'Constant':
            sources[n.output[0]] = {n.output[0]}
        elif n.input and all(not i or i in sources for i in n.input):
            union = set().union(*[sources[i] for i in n.input if i])
            for o in n.output:
                sources[o] = union
    return sources


def restore_batch_norms(model, found):
    """Turn each unfolded BN of ``found`` as paddle2onnx converted it (``Mul(x, c1) ->
    Add(., c2)``, ``c1`` computed from the BN's scale and variance, ``c2`` from them and its
    mean and bias) back into one ``BatchNormalization`` of the BN's parameters, and drop the
    ops that computed ``c1`` and ``c2``.  ``model``: an ``onnx.ModelProto``, changed in
    place.  -> how many (one not found stays the exact Mul + Add)."""
    from onnx import helper
    graph = model.graph
    nodes = list(graph.node)
    sources = _constant_sources(nodes, graph.initializer)
    readers = {}
    for k, n in enumerate(nodes):
        for i in n.input:
            readers.setdefault(i, []).append(k)
    replaced = {}
    for bn in found:
        if bn['requantize'] is not None:
            continue
        params = [bn[k] for k in ('Scale', 'Bias', 'Mean', 'Variance')]
        if not all(sources.get(p) == {p} for p in params):
            continue
        for k, mul in enumerate(nodes):
            if mul.op_type != 'Mul' or len(mul.input) != 2 or k in replaced:
                continue
            srcs = [sources.get(i) for i in mul.input]
            if (srcs[0] is None) == (srcs[1] is None):
                continue
            x, c1 = (0, 1) if srcs[0] is None else (1, 0)
            if not {bn['Scale'], bn['Variance']} <= srcs[c1] or \
                    srcs[c1] & {bn['Mean'], bn['Bias']}:
                continue
            users = readers.get(mul.output[0], [])
            if len(users) != 1 or nodes[users[0]].op_type != 'Add':
                continue
            add = nodes[users[0]]
            other = [i for i in add.input if i != mul.output[0]]
            c2 = sources.get(other[0]) if len(other) == 1 else None
            if c2 is None or not set(params) <= c2:
                continue
            replaced[k] = helper.make_node(
                'BatchNormalization', [mul.input[x]] + params, [add.output[0]],
                name='%s.%d' % (QAT_BN_MARK, len(replaced) // 2), epsilon=bn['epsilon'])
            replaced[users[0]] = None
            break
    if not replaced:
        return 0
    kept = [replaced.get(k, n) for k, n in enumerate(nodes) if replaced.get(k, n) is not None]
    outputs = {o.name for o in graph.output}
    kept = _without_dead_nodes(kept, outputs)
    read = {i for n in kept for i in n.input} | outputs
    for init in [i for i in graph.initializer if i.name not in read]:
        graph.initializer.remove(init)
    data = [n.SerializeToString() for n in kept]
    del graph.node[:]
    for d in data:
        graph.node.add().ParseFromString(d)
    return len(replaced) // 2


def _without_dead_nodes(nodes, outputs):
    """``nodes`` less those whose outputs nothing reads (repeatedly)."""
    while True:
        read = set(outputs)
        for n in nodes:
            read.update(n.input)
        alive = [n for n in nodes if any(o in read for o in n.output)]
        if len(alive) == len(nodes):
            return nodes
        nodes = alive
