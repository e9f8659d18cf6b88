"""Rewrites of a saved Paddle inference program that Paddle's own passes miss.

``fold_conv_bias_reshapes(model_dir)``: Paddle 2.6's dy2static writes a conv's bias as
``reshape2(bias [C] -> [1, C, 1, 1])`` followed by ``elementwise_add(axis=-1)``.  The
reshape of a parameter runs at every inference, and it hides the bias from oneDNN's
conv + bias fusion, so the add runs as a separate fp32 pass over the conv's whole output
(the YOLOv3 output convs: three ``binary`` primitives in the int8 model's oneDNN profile).
The rewrite gives the add the parameter itself with ``axis=1`` (the same broadcast) and
drops the reshape; only ``model.pdmodel`` changes (the parameters are the same).
``export_model`` applies it to every export.  Measured on YOLOv3-MobileNetV1 r578 at 608
(1 thread, 20 interleaved rounds, a loaded 2-core machine): the same detections, fp32
-0.9%, abs_max int8 -2.8%.

``pad_decode_convs(model_dir, multiple=16)``: the conv feeding each ``yolo_box`` has
``anchors * (5 + classes)`` outputs (255 for COCO).  oneDNN writes its output channels-last
and ``yolo_box`` (not a oneDNN op) needs it NCHW, so every pass reorders the whole map; with
a channel count that is not a multiple of the vector width that reorder takes a slow path
(1x255x38x38: 1.36 ms, against 0.66 ms for 256 channels sliced to 255, oneDNN verbose).
The rewrite gives the conv ``multiple``-rounded outputs (the extra filters copy the last
one, so a per-channel int8 scale of them is never 0) and slices the real channels back
before ``yolo_box``: the same numbers, and the slice is folded into the reorder.

``split_concat_convs(model_dir)``: ``concat(a, b) -> 1x1 conv -> BN`` becomes
``conv_a(a) + conv_b(b)`` with the BN folded in (the YOLOv3 neck's two route concats).  In
the int8 graph that concat joins the backbone's unsigned (ReLU) map with the neck's signed
(leaky ReLU) one, which oneDNN does only after a dequantize + quantize round trip of the
backbone map (four reorders and two concats, 1.9 ms of a 50 ms pass at 608); as a sum,
Paddle fuses one conv's output into the other conv as its residual input.  The int8
model then needs a scale for that residual (:func:`ppdet.slim.deploy_scales.keep_residual_scales`).
Measured (oneDNN verbose, per-primitive minimum of 5 passes, r578 + int8 at 608): the
concat region 1.88 -> 1.05 ms.

``sum_projection_adds(model_dir)``: ``add(BN(conv_a(x)), BN(conv_b(y)))`` (a ResNet block
with a projection shortcut) becomes a ``sum`` op, which oneDNN does not fuse into a conv:
both convs then run int8 and the add stays exact (see :func:`_sum_projections`).
Paddle-Lite has no x86 ``sum`` kernel: its conversion turns them back
(``sums_as_adds``, on the staged copy).

``fold_input_normalization(model_dir)``: a fused pre-processing's ``/ 255`` and ``/ std``
move into the first conv's weights (only ``- 255 * mean`` stays on the image).
``drop_fetch_scales(model_dir)``: every ``save_inference_model`` puts an identity ``scale``
in front of each output, one layer per save; they go.

``export_model`` applies them all through ``rewrite_for_onednn(model_dir, fuse_preprocess)``:
one load and one save of the model (each public function alone loads and saves it).
"""
import os

import numpy as np
import paddle

from ppdet.utils.fileio import atomic_write
from ppdet.utils.static_graph import (load_program, op_consumers, op_producers, read_program,
                                      remove_ops, save_program, static_mode)

__all__ = ['fold_conv_bias_reshapes', 'pad_decode_convs', 'split_concat_convs',
           'sum_projection_adds', 'sums_as_adds', 'drop_fetch_scales', 'fold_input_normalization',
           'rewrite_for_onednn', 'edit_program_file']

CONV_OPS = ('conv2d', 'depthwise_conv2d', 'conv2d_transpose')


def _foldable(block, add, producers, consumers):
    """The reshape2 op feeding ``add``'s Y when ``add`` is a conv bias add, else None."""
    if add.type != 'elementwise_add' or add.attr('axis') != -1:
        return None
    conv = producers.get(add.input('X')[0])
    reshape = producers.get(add.input('Y')[0])
    if conv is None or conv.type not in CONV_OPS or reshape is None or \
            reshape.type != 'reshape2':
        return None
    bias = block._find_var_recursive(reshape.input('X')[0])
    out = block._find_var_recursive(conv.output('Output')[0])
    if bias is None or not bias.persistable or len(bias.shape) != 1 or out is None:
        return None
    shape = list(reshape.attr('shape') or [])
    if shape != [1, int(bias.shape[0]), 1, 1] or len(out.shape) != 4:
        return None
    if len(consumers.get(add.input('Y')[0], [])) != 1 or \
            consumers.get(reshape.output('XShape')[0]):
        return None
    return reshape


def fold_conv_bias_reshapes(model_dir, model_file='model.pdmodel'):
    """Rewrite ``model_dir/model_file`` in place; returns how many bias adds were folded."""
    return edit_program_file(os.path.join(model_dir, model_file), _fold)


def edit_program_file(path, step):
    """Run ``step(block)`` on the program in ``path`` (no parameters needed) and write it
    back, atomically, when the step changed something; -> what the step returned."""
    with static_mode():
        program = read_program(path)
        result = step(program.global_block())
        if result:
            data = program.desc.serialize_to_string()
            atomic_write(path, lambda f: f.write(data), mode='wb')
    return result


def _fold(block):
    writers, readers = op_producers(block), op_consumers(block)
    folds = []
    for op in block.ops:
        reshape = _foldable(block, op, writers, readers)
        if reshape is not None:
            folds.append((op, reshape))
    if not folds:
        return 0
    for add, reshape in folds:
        add._rename_input(add.input('Y')[0], reshape.input('X')[0])
        add._set_attr('axis', 1)
    remove_ops(block, [r for _, r in folds])
    return len(folds)


DECODE_OPS = ('yolo_box',)


def _decode_conv(block, decode, producers, consumers):
    """(conv, bias add or None) writing ``decode``'s X through nothing else, or None.

    Only a float conv on a plain persistable filter qualifies (a quantized filter comes
    from a dequantize op and carries per-channel scales sized to the old channel count)."""
    x = decode.input('X')[0]
    add = producers.get(x)
    conv = add
    if add is not None and add.type == 'elementwise_add':
        bias = block._find_var_recursive(add.input('Y')[0])
        if bias is None or not bias.persistable or len(bias.shape) != 1 or \
                add.attr('axis') != 1:
            return None
        conv = producers.get(add.input('X')[0])
    else:
        add = None
    if conv is None or conv.type != 'conv2d':
        return None
    filt = block._find_var_recursive(conv.input('Filter')[0])
    if filt is None or not filt.persistable or filt.name in producers:
        return None
    if add is not None and int(block._find_var_recursive(add.input('Y')[0]).shape[0]) != \
            int(filt.shape[0]):
        return None
    for var in [conv.output('Output')[0]] + ([x] if add is not None else []):
        if len(consumers.get(var, [])) != 1:
            return None
    return conv, add


def pad_decode_convs(model_dir, multiple=16):
    """Rewrite ``model_dir``'s model in place; returns how many decode convs were padded."""
    return _rewritten(model_dir, lambda block, scope: _pad_decode(block, scope, multiple))


def _pad_decode(block, scope, multiple=16):
    producers, consumers = op_producers(block), op_consumers(block)
    found = []
    for op in block.ops:
        if op.type in DECODE_OPS:
            hit = _decode_conv(block, op, producers, consumers)
            if hit is not None and int(block.var(hit[0].input('Filter')[0]).shape[0]) \
                    % multiple:
                found.append((op, hit[0], hit[1]))
    for decode, conv, add in found:
        names = [conv.input('Filter')[0]] + ([add.input('Y')[0]] if add else [])
        channels = int(block.var(names[0]).shape[0])
        padded = -(-channels // multiple) * multiple
        for name in names:
            tensor = scope.find_var(name).get_tensor()
            value = np.array(tensor)
            extra = np.repeat(value[-1:], padded - channels, axis=0)
            tensor.set(np.concatenate([value, extra]), paddle.CPUPlace())
            var = block.var(name)
            var.desc.set_shape([padded] + list(value.shape[1:]))
        last = (add or conv).output('Out' if add else 'Output')[0]
        var = block.var(last)
        shape = list(var.shape)
        shape[1] = padded
        var.desc.set_shape(shape)
        sliced = block.create_var(name=last + '.real_channels', dtype=var.dtype,
                                  shape=shape[:1] + [channels] + shape[2:])
        block._insert_op(_op_index(block, decode), type='slice', inputs={'Input': [last]},
                         outputs={'Out': [sliced]},
                         attrs={'axes': [1], 'starts': [0], 'ends': [channels],
                                'decrease_axis': [], 'infer_flags': [1]})
        decode._rename_input(last, sliced.name)
    return len(found)


def _single(consumers, name):
    users = consumers.get(name, [])
    return users[0] if len(users) == 1 else None


def _is_pointwise(conv, block):
    if conv.type != 'conv2d':
        return False
    filt = block._find_var_recursive(conv.input('Filter')[0])
    return (filt is not None and filt.persistable and
            list(filt.shape[2:]) == [1, 1] and conv.attr('groups') == 1 and
            list(conv.attr('strides')) == [1, 1] and
            list(conv.attr('paddings')) in ([0, 0], [0, 0, 0, 0]) and
            conv.attr('data_format') in ('NCHW', 'AnyLayout'))


def _concat_conv_bn(block, concat, consumers):
    """(conv, bn) when ``concat`` (channels) feeds only a 1x1 conv feeding only a BN."""
    if concat.type != 'concat' or concat.attr('axis') != 1 or concat.input('AxisTensor'):
        return None
    conv = _single(consumers, concat.output('Out')[0])
    if conv is None or not _is_pointwise(conv, block) or \
            conv.input('Input')[0] != concat.output('Out')[0]:
        return None
    bn = _single(consumers, conv.output('Output')[0])
    if bn is None or bn.type != 'batch_norm':
        return None
    widths = [block._find_var_recursive(n).shape[1] for n in concat.input('X')]
    if any(w is None or w < 0 for w in widths):
        return None
    return conv, bn


def split_concat_convs(model_dir):
    """Rewrite ``concat(a, b) -> 1x1 conv -> BN`` as ``conv_a(a) + conv_b(b)`` (BN folded).

    A 1x1 conv of a channel concat is the sum of 1x1 convs of its parts.  In the int8
    graph the concat of the YOLOv3 neck joins the backbone's unsigned (ReLU) map with the
    neck's signed (leaky ReLU) one, which oneDNN can only do after a dequantize + quantize
    round trip of the backbone map; as a sum, Paddle fuses one conv's output into the
    other conv as its residual input, and neither the concat nor the round trip is left.
    Returns how many were rewritten."""
    renamed = _rewritten(model_dir, _split_concats)
    _rename_params(model_dir, renamed)
    return len(renamed)


def _split_concats(block, scope):
    """-> {old conv weight: [the parts' weights]} of the concats split in ``block``."""
    consumers = op_consumers(block)
    hits = []
    for op in block.ops:
        found = _concat_conv_bn(block, op, consumers) if op.type == 'concat' else None
        if found is not None and len(op.input('X')) > 1:
            hits.append((op,) + found)
    renamed = {}
    for concat, conv, bn in hits:
        old = conv.input('Filter')[0]           # read before the conv's desc is freed
        renamed[old] = _split_one(block, scope, concat, conv, bn)
    return renamed


def _rename_params(model_dir, renamed):
    """``param_names.json``: each part weight takes its conv's readable name, so a layer
    named to keep in fp32 (``skip_tensors``) still finds its weights."""
    from ppdet.deploy.infer_cfg import PARAM_NAMES, read_param_names
    from ppdet.utils.fileio import write_json
    names = read_param_names(model_dir) if renamed else None
    if not names:
        return
    for old, parts in renamed.items():
        readable = names.pop(old, None)
        if readable is not None:
            names.update({part: readable for part in parts})
    write_json(os.path.join(str(model_dir), PARAM_NAMES), names)


def _param(block, scope, name, value):
    var = block.create_var(name=name, shape=list(value.shape), dtype='float32',
                           persistable=True)
    scope.var(name).get_tensor().set(np.ascontiguousarray(value, np.float32),
                                     paddle.CPUPlace())
    return var


def _tensor(scope, name):
    return np.array(scope.find_var(name).get_tensor())


_SKIP_ATTRS = ('op_callstack', 'op_namescope', 'op_role', 'op_role_var', 'op_device',
               'with_quant_attr')


def _split_one(block, scope, concat, conv, bn):
    weight = _tensor(scope, conv.input('Filter')[0])
    gamma, beta = _tensor(scope, bn.input('Scale')[0]), _tensor(scope, bn.input('Bias')[0])
    mean, var = _tensor(scope, bn.input('Mean')[0]), _tensor(scope, bn.input('Variance')[0])
    scale = gamma / np.sqrt(var + bn.attr('epsilon'))
    weight = weight * scale[:, None, None, None]
    bias = beta - mean * scale
    out_name = bn.output('Y')[0]
    stem = conv.output('Output')[0]
    conv_attrs = {k: conv.attr(k) for k in conv.attr_names if k not in _SKIP_ATTRS}
    ops, parts, offset = [], [], 0      # ops: (type, inputs, outputs, attrs) in order
    for i, name in enumerate(concat.input('X')):
        src = block._find_var_recursive(name)
        width = int(src.shape[1])
        shape = [src.shape[0], weight.shape[0]] + list(src.shape[2:])
        w_var = _param(block, scope, '%s.part%d' % (conv.input('Filter')[0], i),
                       weight[:, offset:offset + width])
        offset += width
        # every part gets a bias (the first the folded BN's, the others zeros): Paddle fuses
        # an add of two convs' outputs only when both are biased (fused_conv2d) convs
        b_var = _param(block, scope, '%s.part%d.bias' % (conv.input('Filter')[0], i),
                       bias if i == 0 else np.zeros_like(bias))
        raw = block.create_var(name='%s.part%d' % (stem, i), dtype='float32', shape=shape)
        part = block.create_var(name='%s.part%d.biased' % (stem, i), dtype='float32',
                                shape=shape)
        ops.append(('conv2d', {'Input': [name], 'Filter': [w_var.name]},
                    {'Output': [raw.name]}, conv_attrs))
        ops.append(('elementwise_add', {'X': [raw.name], 'Y': [b_var.name]},
                    {'Out': [part.name]}, {'axis': 1}))
        parts.append(part)
    acc = parts[0]
    for j, part in enumerate(parts[1:], 1):
        nxt = out_name if j == len(parts) - 1 else '%s.sum%d' % (stem, j)
        if nxt != out_name:
            block.create_var(name=nxt, dtype='float32', shape=acc.shape)
        ops.append(('elementwise_add', {'X': [acc.name], 'Y': [part.name]}, {'Out': [nxt]},
                    {'axis': -1}))
        acc = block.var(nxt)
    # the concat, conv and BN go, their vars stay (the BN writes its own statistics;
    # save_inference_model prunes what only they read); the new ops go right before the
    # first reader of the BN's output
    remove_ops(block, [concat, conv, bn], with_outputs=False)
    index = min(i for i, o in enumerate(block.ops) if out_name in o.input_arg_names)
    for k, (typ, ins, outs, attrs) in enumerate(ops):
        block._insert_op(index + k, type=typ, inputs=ins, outputs=outs, attrs=attrs)
    return [ins['Filter'][0] for typ, ins, _, _ in ops if typ == 'conv2d']


def sum_projection_adds(model_dir):
    """Write each sum of two conv + BN branches (a ResNet block's projection shortcut) as a
    ``sum`` op; -> how many (see :func:`_sum_projections`)."""
    return _rewritten(model_dir, _sum_projections)


def _conv_bn(name, producers):
    """True when ``name`` is written by an inference BN of a conv's output (in a QAT export
    through the quantize + dequantize pair that observes the conv's output)."""
    bn = producers.get(name)
    if bn is None or bn.type != 'batch_norm':
        return False
    src = producers.get(bn.input('X')[0])
    if src is not None and src.type == 'dequantize_linear':
        q = producers.get(src.input('X')[0])
        src = producers.get(q.input('X')[0]) if q is not None and \
            q.type == 'quantize_linear' else None
    return src is not None and src.type in ('conv2d', 'depthwise_conv2d')


def _sum_projections(block, scope=None):
    """``add(BN(conv_a(x)), BN(conv_b(y)))`` -> ``sum([...])``, the same numbers.

    Paddle's oneDNN passes fuse an ``elementwise_add`` of two convs into one of them as its
    residual input, and its int8 pass then quantizes that conv only when the residual has
    a scale: without one, that conv ran fp32 in the int8 model (YOLOv3-ResNet34: one per
    projection block, 4 of its 7 fp32 convs); with one (the calibrated threshold), the
    branch is rounded to int8 before the add, which the simulation never does (built-in
    ResNet18 YOLOv3, 32 calibration images: agreement with the simulation 97.4 -> 91.7%
    with abs_max, 97.5 -> 79.3% with hist, AP -0.4 with hist).  A ``sum`` op is not fused:
    both convs run int8 with float outputs and the add is exact, as simulated
    (YOLOv3-ResNet34 at 608: int8 2.85x -> 3.41x).  Where Paddle had already fused a
    shortcut as an int8 residual with a scale it propagates (R50vd's pooled shortcuts),
    the sum costs about what it saves (R50vd-DCN: oneDNN time +1.8%)."""
    producers = op_producers(block)
    hits = [op for op in block.ops if op.type == 'elementwise_add' and op.attr('axis') == -1
            and all(_conv_bn(op.input(k)[0], producers) for k in ('X', 'Y'))
            and op.input('X')[0] != op.input('Y')[0]]
    for add in hits:
        _replace_op(block, add, 'sum', {'X': [add.input('X')[0], add.input('Y')[0]]},
                    {'Out': add.output('Out')}, {})
    return len(hits)


def _op_index(block, op):
    return [i for i, o in enumerate(block.ops) if o is op][0]


def _replace_op(block, op, op_type, inputs, outputs, attrs):
    """Put a new ``op_type`` op where ``op`` was (``op``'s outputs stay declared)."""
    index = _op_index(block, op)
    remove_ops(block, [op], with_outputs=False)
    block._insert_op(index, type=op_type, inputs=inputs, outputs=outputs, attrs=attrs)


def sums_as_adds(model_dir):
    """Undo :func:`sum_projection_adds` for a runtime without a ``sum`` kernel (Paddle-Lite
    on x86): every two-input ``sum`` becomes ``elementwise_add``; -> how many."""
    return _rewritten(model_dir, _sums_as_adds)


def _sums_as_adds(block, scope=None):
    hits = [op for op in block.ops if op.type == 'sum' and len(op.input('X')) == 2]
    for op in hits:
        (x, y), out = op.input('X'), op.output('Out')
        _replace_op(block, op, 'elementwise_add', {'X': [x], 'Y': [y]}, {'Out': out},
                    {'axis': -1})
    return len(hits)


def _identity_scale(op):
    return (op.type == 'scale' and float(op.attr('scale')) == 1.0 and
            float(op.attr('bias')) == 0.0 and not op.input('ScaleTensor'))


def drop_fetch_scales(model_dir, model_file='model.pdmodel'):
    """Drop the identity ``scale`` ops in front of the fetches; -> how many.

    ``paddle.static.save_inference_model`` (and so ``jit.save``, each rewrite above and
    PaddleSlim's PTQ) puts ``scale(x, 1.0)`` in front of every output it saves, one more
    layer per save: an int8 export carried eight of them, each an op to dispatch and a
    copy in every pass.  The fetch ops read the real outputs instead (their order is kept);
    only ``model_file`` changes."""
    return edit_program_file(os.path.join(model_dir, model_file), _drop_fetch_scales)


def _drop_fetch_scales(block):
    ops = list(block.ops)
    doomed = []
    for at, fetch in [(i, op) for i, op in enumerate(ops) if op.type == 'fetch']:
        name = source = fetch.input('X')[0]
        chain = []
        while True:       # the last op writing ``source`` before ``at`` (saves reuse names)
            writer = next((i for i in range(at - 1, -1, -1)
                           if source in ops[i].output_arg_names), None)
            op = ops[writer] if writer is not None else None
            if op is None or not _identity_scale(op):
                break
            chain.append(op)
            at, source = writer, op.input('X')[0]
        written = {n for op in chain for n in op.output_arg_names}
        members = {id(op) for op in chain} | {id(fetch)}
        if chain and not any(id(op) not in members and written & set(op.input_arg_names)
                             for op in ops):
            fetch._rename_input(name, source)
            doomed.extend(chain)
    remove_ops(block, doomed)
    return len(doomed)


def _constant(op, producers):
    """The values of ``reshape2(assign_value)`` (how dy2static writes a constant) feeding
    ``op``'s Y, else None."""
    reshape = producers.get(op.input('Y')[0])
    if reshape is None or reshape.type != 'reshape2':
        return None
    assign = producers.get(reshape.input('X')[0])
    if assign is None or assign.type != 'assign_value' or not assign.attr('fp32_values'):
        return None
    return np.asarray(assign.attr('fp32_values'), np.float32)


def fold_input_normalization(model_dir):
    """Fold the fused pre-processing's ``/ 255`` and ``/ std`` into the first conv.

    A ``fuse_preprocess`` export computes ``((x / 255) - mean) / std`` on the image and
    convolves it; the same is ``conv'(x - 255 * mean)`` with the conv's input channels
    scaled by ``1 / (255 * std)`` (exactly: the conv's zero padding is still the mean).
    Two passes over the image and their op dispatch go (0.4 ms at 608 in oneDNN).
    Returns how many convs took the scale (0: no such pattern)."""
    return _rewritten(model_dir, _fold_normalization)


def _fold_normalization(block, scope):
    producers, consumers = op_producers(block), op_consumers(block)
    for div in [op for op in block.ops if op.type == 'elementwise_div']:
        std, sub = _constant(div, producers), producers.get(div.input('X')[0])
        if std is None or sub is None or sub.type != 'elementwise_sub':
            continue
        mean, scale = _constant(sub, producers), producers.get(sub.input('X')[0])
        convs = consumers.get(div.output('Out')[0], [])
        if mean is None or mean.shape != std.shape or not convs or \
                len(consumers.get(sub.output('Out')[0], [])) != 1 or \
                any(c.type != 'conv2d' or c.attr('groups') != 1 or
                    not block.var(c.input('Filter')[0]).persistable or
                    block.var(c.input('Filter')[0]).shape[1] != len(std) for c in convs):
            continue
        k = 1.0
        if scale is not None and scale.type == 'scale' and float(scale.attr('bias')) == 0 \
                and not scale.input('ScaleTensor') and \
                len(consumers.get(scale.output('Out')[0], [])) == 1:
            k = float(scale.attr('scale'))
            sub._rename_input(sub.input('X')[0], scale.input('X')[0])
        for conv in convs:
            tensor = scope.find_var(conv.input('Filter')[0]).get_tensor()
            weight = np.array(tensor) * (k / std)[None, :, None, None]
            tensor.set(weight.astype(np.float32), paddle.CPUPlace())
            conv._rename_input(div.output('Out')[0], sub.output('Out')[0])
        shift = _param(block, scope, sub.output('Out')[0] + '.mean', mean / k)
        sub._rename_input(sub.input('Y')[0], shift.name)
        sub._set_attr('axis', 1)
        return len(convs)
    return 0


def _rewritten(model_dir, step):
    """Load ``model_dir``'s model, run ``step(block, scope)`` on it and save it when the
    step changed something; -> what the step returned."""
    prog, feeds, fetches, scope = load_program(model_dir)
    with static_mode():
        result = step(prog.global_block(), scope)
    if result:
        save_program(model_dir, prog, feeds, fetches, scope)
    return result


def rewrite_for_onednn(model_dir, fuse_preprocess=False):
    """Every rewrite above on a freshly saved export, in one load and one save (the identity
    output scales go last: that save adds a layer of them).  -> counts per rewrite."""
    counts, renamed = {}, {}

    def steps(block, scope):
        counts['conv_bias_reshapes'] = _fold(block)
        counts['decode_convs_padded'] = _pad_decode(block, scope)
        renamed.update(_split_concats(block, scope))
        counts['concats_split'] = len(renamed)
        counts['projection_sums'] = _sum_projections(block)
        counts['normalisation_folded'] = \
            _fold_normalization(block, scope) if fuse_preprocess else 0
        return any(counts.values())
    _rewritten(model_dir, steps)
    _rename_params(model_dir, renamed)
    counts['fetch_scales_dropped'] = drop_fetch_scales(model_dir)
    return counts
