"""An exported model directory: model.pdmodel, model.pdiparams, infer_cfg.yml and
param_names.json (exported tensor name -> the model's readable parameter name)."""
import math
import os

import yaml

from ppdet.utils.fileio import read_json, write_json, write_yaml

from .preprocess import brief_repr, build_ops, is_number

MODEL_FILE = 'model.pdmodel'
PARAMS_FILE = 'model.pdiparams'
CFG_FILE = 'infer_cfg.yml'
PARAM_NAMES = 'param_names.json'
# what every exported detector is fed, in this order
INPUT_NAMES = ('image', 'im_shape', 'scale_factor')

__all__ = ['load_infer_cfg', 'update_infer_cfg', 'require_nms', 'model_files', 'check_model',
           'program_desc', 'class_count', 'output_names', 'write_param_names',
           'read_param_names', 'weights_by_layer',
           'MODEL_FILE', 'PARAMS_FILE', 'PARAM_NAMES']


def model_files(model_dir):
    """-> (model.pdmodel, model.pdiparams) paths; a clear error if the directory is not an export
    (naming the exports in its subfolders when it is their parent, e.g. output/inference)."""
    missing = [f for f in (MODEL_FILE, PARAMS_FILE, CFG_FILE)
               if not os.path.isfile(os.path.join(model_dir, f))]
    if missing:
        raise FileNotFoundError(
            '%s is not an exported model directory (missing %s); %s'
            % (model_dir, ', '.join(missing), _exports_inside(model_dir) or
               'export one with tools/export_model.py -c CONFIG -o weights=W --output_dir DIR'))
    return os.path.join(model_dir, MODEL_FILE), os.path.join(model_dir, PARAMS_FILE)


def _exports_inside(model_dir, shown=5):
    """'give one of the exports in it: DIR/a, DIR/b' for the subfolders of ``model_dir``
    that hold a model.pdmodel, or '' if none do."""
    try:
        names = sorted(n for n in os.listdir(model_dir)
                       if os.path.isfile(os.path.join(model_dir, n, MODEL_FILE)))
    except OSError:
        return ''
    if not names:
        return ''
    more = ' (and %d more)' % (len(names) - shown) if len(names) > shown else ''
    return 'give one of the exports in it: %s%s' % (
        ', '.join(os.path.join(model_dir, n) for n in names[:shown]), more)


REEXPORT = 're-export it with tools/export_model.py'
# bytes per element of the parameter dtypes (framework.proto's VarType.Type names)
_DTYPE_BYTES = {'BOOL': 1, 'INT16': 2, 'INT32': 4, 'INT64': 8, 'FP16': 2, 'FP32': 4, 'FP64': 8,
                'UINT8': 1, 'INT8': 1, 'BF16': 2}


def check_model(model_dir):
    """Refuse a corrupt or truncated export before a runtime reads it: Paddle Inference
    segfaults on a model.pdmodel that is not a program, paddle2onnx raises a protobuf error
    or aborts, and a truncated model.pdiparams fails deep inside loading.  The program is
    parsed once (protobuf, no Paddle objects); model.pdiparams is walked tensor by tensor
    through their headers (the data is skipped, not read): one per persistable variable of
    the program, and nothing after them.  -> the parsed ``ProgramDesc``."""
    model_file, params_file = model_files(model_dir)
    desc = program_desc(model_file)
    problem = _params_problem(params_file, _parameter_count(desc))
    if problem:
        raise ValueError('%s %s: %s' % (params_file, problem % {'model': model_file}, REEXPORT))
    return desc


def program_desc(model_file):
    """The ``ProgramDesc`` proto of a saved program (no Paddle objects are built); a file
    that does not parse or holds no ops raises ValueError naming the re-export."""
    from google.protobuf.message import DecodeError
    from paddle.base.proto import framework_pb2
    with open(model_file, 'rb') as f:
        data = f.read()
    try:
        desc = framework_pb2.ProgramDesc.FromString(data)
    except DecodeError:
        desc = None
    if desc is None or not desc.blocks or not desc.blocks[0].ops:
        raise ValueError('%s is not a Paddle program (corrupt or truncated): %s'
                         % (model_file, REEXPORT))
    return desc


def _parameter_count(desc):
    """How many tensors model.pdiparams holds for the program ``desc``: Paddle loads every
    persistable tensor of the global block."""
    from paddle.base.proto import framework_pb2
    tensor = framework_pb2.VarType.LOD_TENSOR
    return sum(1 for var in desc.blocks[0].vars
               if var.persistable and var.type.type == tensor)


def _params_problem(params_file, wanted):
    """What is wrong with ``params_file`` as ``wanted`` saved tensors, or None (a phrase;
    ``%(model)s`` stands for the program file).  Paddle saves each tensor as: uint32 0,
    uint64 LoD levels and their data, uint32 0, int32 size of its TensorDesc, the
    TensorDesc, the raw data, whose dtype may differ from the program's variable (int8
    weights of a QAT export)."""
    import struct
    from google.protobuf.message import DecodeError
    from paddle.base.proto import framework_pb2
    var_type = framework_pb2.VarType
    dtype_bytes = {getattr(var_type, name): size for name, size in _DTYPE_BYTES.items()}
    size = os.path.getsize(params_file)
    corrupt = "is not the parameters of %(model)s (corrupt, or another model's)"
    with open(params_file, 'rb') as f:
        for i in range(wanted):
            head = f.read(12)
            if len(head) < 12:
                return 'is truncated (%d bytes: it ends before tensor %d of %d)' % (
                    size, i + 1, wanted)
            version, levels = struct.unpack('<IQ', head)
            if version != 0 or levels > 8:
                return corrupt
            for _ in range(levels):
                f.seek(struct.unpack('<Q', f.read(8).ljust(8, b'\xff'))[0], 1)
            head = f.read(8).ljust(8, b'\xff')
            version, desc_size = struct.unpack('<Ii', head)
            if version != 0 or not 0 < desc_size < 1 << 16:
                return corrupt
            try:
                tensor = var_type.TensorDesc.FromString(f.read(desc_size))
            except DecodeError:
                return corrupt
            if tensor.data_type not in dtype_bytes or any(d < 0 for d in tensor.dims):
                return None   # not a parameter dtype known here: Paddle's loading judges
            f.seek(dtype_bytes[tensor.data_type] * math.prod(tensor.dims), 1)
            if f.tell() > size:
                return 'is truncated (%d bytes: it ends inside tensor %d of %d)' % (
                    size, i + 1, wanted)
        # Paddle refuses data after the last tensor too ("partial data")
        return corrupt if f.tell() != size else None


def update_infer_cfg(model_dir, **changes):
    """Set ``changes`` in ``model_dir``'s infer_cfg.yml (atomically); -> the new settings."""
    path = os.path.join(model_dir, CFG_FILE)
    cfg = _read_cfg(path)
    cfg.update(changes)
    write_yaml(path, cfg)
    return cfg


def require_nms(model_dir, infer_cfg, use, other_fix=''):
    """Refuse an ``exclude_nms`` export (raw boxes and scores, no NMS) where detections are
    needed; ``use`` says what needs them (e.g. 'the detector', 'evaluation'), ``other_fix``
    another way out (' or ...')."""
    if infer_cfg.get('exclude_nms'):
        raise ValueError('%s was exported with exclude_nms (raw boxes/scores, no NMS): %s needs '
                         'NMS inside; export without --exclude_nms%s' % (model_dir, use,
                                                                         other_fix))


def _read_cfg(path):
    """infer_cfg.yml as a dict; broken YAML or another top level is one clear error."""
    try:
        with open(path, encoding='utf-8') as f:
            cfg = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        mark = getattr(e, 'problem_mark', None)
        raise ValueError('%s is not valid YAML (%s%s): %s' % (
            path, 'line %d: ' % (mark.line + 1) if mark else '',
            getattr(e, 'problem', None) or getattr(e, 'reason', None) or e, REEXPORT))
    if cfg is None:
        return {}
    if not isinstance(cfg, dict):
        raise ValueError('%s is not a mapping of settings (its top level is a %s): %s'
                         % (path, type(cfg).__name__, REEXPORT))
    return cfg


# what a setting left out (or left empty) of infer_cfg.yml means
DEFAULTS = {'min_subgraph_size': 3, 'draw_threshold': 0.5, 'label_list': [],
            'exclude_nms': False, 'quantized': False}


def load_infer_cfg(model_dir):
    """``model_dir``'s infer_cfg.yml as a dict, checked: a value of a hand-edited file that
    would fail later (deep in a runtime, or with a message naming no file) is one ValueError
    naming the file, the key and the expected form."""
    model_file, _ = model_files(model_dir)
    path = os.path.join(model_dir, CFG_FILE)
    cfg = _read_cfg(path)
    if 'Preprocess' not in cfg:
        raise ValueError('%s has no Preprocess section' % path)
    for key, value in DEFAULTS.items():
        if cfg.get(key) is None:
            cfg[key] = value
    threshold = cfg['draw_threshold']
    if not is_number(threshold) or not 0 <= threshold <= 1:
        raise ValueError('%s: draw_threshold must be a number in [0, 1] (the score a detection '
                         'needs to be drawn), got %s' % (path, brief_repr(threshold)))
    _check_input_size(cfg, path, build_ops(cfg['Preprocess'], where=path))
    _check_labels(cfg, path, model_file)
    return cfg


def _check_input_size(cfg, path, ops):
    """A model exported at a fixed size (``image_shape`` [3, H, W]) runs only at H x W: a
    Resize to another size failed deep in the runtime (onnxruntime's invalid dimensions,
    Paddle's reshape) or, where the graph allows it, ran at a size it was not made for.
    A dynamic size (null or -1) takes any Resize."""
    shape = cfg.get('image_shape') or [3, None, None]
    if not isinstance(shape, list) or len(shape) != 3 or not all(
            v is None or isinstance(v, int) and not isinstance(v, bool) for v in shape):
        raise ValueError('%s: image_shape must be [3, H, W] (ints; null or -1 for a dynamic '
                         'size), got %s' % (path, brief_repr(shape)))
    resizes = [op for op in ops if type(op).__name__ == 'Resize']
    if not resizes:
        return
    size = resizes[-1].target_size     # the last Resize gives the input size
    if any(want is not None and want > 0 and want != got
           for want, got in zip(shape[1:], size)):
        raise ValueError(
            '%s: the Resize target_size %s is not the input size the model was exported with '
            '(image_shape %s): set target_size back to %s in that file, or re-export the model '
            'at the new size (TestReader Resize target_size and inputs_def.image_shape) with '
            'tools/export_model.py' % (path, list(size), shape, shape[1:]))


def _check_labels(cfg, path, model_file):
    """``label_list``: class names (a string was read letter by letter: 'face' -> 'f'), one
    per class of the model where its program says how many."""
    labels = cfg['label_list']
    if not isinstance(labels, list) or not all(isinstance(n, str) for n in labels):
        raise ValueError('%s: label_list must be a list of class names (strings) in class-id '
                         'order, like [person, car], got %s%s' % (
                             path, brief_repr(labels), ' (quote names YAML reads as numbers or '
                             'booleans)' if isinstance(labels, list) else ''))
    classes = class_count(program_desc(model_file), cfg['exclude_nms']) if labels else None
    if classes is not None and classes != len(labels):
        raise ValueError('%s: label_list has %d names but the model has %d class%s: give one '
                         'name per class, in class-id order, or %s' % (
                             path, len(labels), classes, '' if classes == 1 else 'es',
                             REEXPORT))


def class_count(desc, exclude_nms=False):
    """The class count the program ``desc`` states, or None where it is not static: C of its
    NMS's ``Scores`` ([N, C, boxes] or [boxes, C]; less a background class, if the NMS has
    one), or of the ``scores`` output [N, C, boxes] of an ``exclude_nms`` export."""
    block = desc.blocks[0]
    dims = {v.name: list(v.type.lod_tensor.tensor.dims) for v in block.vars}

    def classes(var, background=-1):
        shape = dims.get(var) or []
        c = shape[1] if len(shape) >= 2 and shape[1] > 0 else None
        return c - 1 if c and 0 <= background < c else c

    for op in block.ops:
        attrs = {a.name: a for a in op.attrs}
        if op.type.startswith('multiclass_nms'):
            scores = [n for a in op.inputs if a.parameter == 'Scores' for n in a.arguments]
            bg = attrs['background_label'].i if 'background_label' in attrs else -1
            return classes(scores[0], bg) if scores else None
        if exclude_nms and op.type == 'fetch' and attrs['col'].i == 1:
            var = op.inputs[0].arguments[0]
            return classes(var) if len(dims.get(var) or []) == 3 else None
    return None


def output_names(infer_cfg):
    """The contract's names for the graph outputs, in graph order."""
    return ['boxes', 'scores'] if infer_cfg.get('exclude_nms') else ['bbox', 'bbox_num']


def write_param_names(model, model_dir):
    """Record exported tensor name -> dygraph name for a model exported in this process.

    ``jit.save`` keeps each parameter's unique runtime name (``conv2d_12.w_0``); the
    per-layer quantization report and ``skip_layers`` accept the readable names
    through this map.
    """
    names = {p.name: n for n, p in model.named_parameters()}
    write_json(os.path.join(str(model_dir), PARAM_NAMES), names)
    return names


def read_param_names(model_dir):
    path = os.path.join(str(model_dir), PARAM_NAMES)
    return read_json(path) if os.path.isfile(path) else {}


def weights_by_layer(model_dir):
    """Dygraph layer name -> its exported weight tensor names (a concat's conv split in two
    by ``split_concat_convs`` has two), from :func:`read_param_names`."""
    out = {}
    for tensor, name in read_param_names(model_dir).items():
        if name.endswith('.weight'):
            out.setdefault(name[:-len('.weight')], []).append(tensor)
    return out
