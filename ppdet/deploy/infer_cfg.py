"""An exported model directory: model.pdmodel, model.pdiparams, infer_cfg.yml and
param_names.json (exported tensor name -> the model's readable parameter name)."""
import os

import yaml

from ppdet.utils.fileio import read_json, write_json, write_yaml

MODEL_FILE = 'model.pdmodel'
PARAMS_FILE = 'model.pdiparams'
CFG_FILE = 'infer_cfg.yml'
PARAM_NAMES = 'param_names.json'
# what every exported detector is fed, in this order
INPUT_NAMES = ('image', 'im_shape', 'scale_factor')

__all__ = ['load_infer_cfg', 'update_infer_cfg', 'require_nms', 'model_files', 'output_names', 'write_param_names',
           'read_param_names', 'weights_by_layer', 'MODEL_FILE', 'PARAMS_FILE', 'PARAM_NAMES']


def model_files(model_dir):
    """-> (model.pdmodel, model.pdiparams) paths; a clear error if the directory is not an export."""
    missing = [f for f in (MODEL_FILE, PARAMS_FILE, CFG_FILE)
               if not os.path.isfile(os.path.join(model_dir, f))]
    if missing:
        raise FileNotFoundError(
            '%s is not an exported model directory (missing %s); export one with '
            'tools/export_model.py -c CONFIG -o weights=W --output_dir DIR'
            % (model_dir, ', '.join(missing)))
    return os.path.join(model_dir, MODEL_FILE), os.path.join(model_dir, PARAMS_FILE)


def update_infer_cfg(model_dir, **changes):
    """Set ``changes`` in ``model_dir``'s infer_cfg.yml (atomically); -> the new settings."""
    path = os.path.join(model_dir, CFG_FILE)
    with open(path, encoding='utf-8') as f:
        cfg = yaml.safe_load(f) or {}
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


def load_infer_cfg(model_dir):
    model_files(model_dir)
    with open(os.path.join(model_dir, CFG_FILE), encoding='utf-8') as f:
        cfg = yaml.safe_load(f) or {}
    if 'Preprocess' not in cfg:
        raise ValueError('%s has no Preprocess section' % os.path.join(model_dir, CFG_FILE))
    cfg.setdefault('min_subgraph_size', 3)
    cfg.setdefault('draw_threshold', 0.5)
    cfg.setdefault('label_list', [])
    cfg.setdefault('exclude_nms', False)
    cfg.setdefault('quantized', False)
    return cfg


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
