"""Export a (possibly compressed) model as a Paddle inference model plus ``infer_cfg.yml``.

The exported graph takes ``image`` [N,3,H,W], ``im_shape`` [N,2] and
``scale_factor`` [N,2] and returns ``bbox`` [M,6] (class, score, x1, y1, x2, y2 in
original pixels) and ``bbox_num`` [N], with NMS inside, as PaddleDetection does.
``exclude_nms`` exports decoded boxes and per-class scores instead, for runtimes
that run their own NMS.  ``fuse_preprocess`` (or ``fuse_preprocess: true`` in the config)
moves ``NormalizeImage`` + ``Permute`` into the graph: ``image`` is then the resized
uint8 [N,H,W,3] and the Python side only resizes (``fuse_preprocess`` in infer_cfg.yml).
``infer_cfg.yml`` describes the preprocessing, labels and the compression record, so the
deploy runners need nothing else.  After saving, conv biases are rewritten into the form
oneDNN fuses, the decode convs get vector-width channel counts, a concat feeding a 1x1
conv becomes a sum of convs, a fused normalisation's scales move into the first conv and
the identity ops saving puts in front of the outputs go (:mod:`ppdet.deploy.program_fixes`).
"""
import os

import paddle

from ppdet.utils.fileio import check_output_dir, staged_dir, write_yaml
from ppdet.utils.logger import setup_logger
from ppdet.utils.static_graph import forget_failed_traces

logger = setup_logger(__name__)

MODEL_FILE = 'model'  # model.pdmodel / model.pdiparams


def _test_image_shape(cfg):
    shape = ((cfg.get('TestReader') or {}).get('inputs_def') or {}).get('image_shape')
    if shape is None:
        for t in (cfg.get('TestReader') or {}).get('sample_transforms', []):
            if 'Resize' in t:
                h, w = t['Resize']['target_size']
                return [3, int(h), int(w)]
        return [3, None, None]
    return [int(s) if s is not None and int(s) > 0 else None for s in shape]


def preprocess_spec(cfg):
    """The TestReader's ops after Decode, as infer_cfg.yml lists them.  A fixed input size
    given as ``TestReader.inputs_def.image_shape`` [3, H, W] is the last Resize's
    target_size, as PaddleDetection's export makes it (the export took the size and kept
    the Resize, which every runner then refused)."""
    ops = []
    for t in (cfg.get('TestReader') or {}).get('sample_transforms', []):
        (name, args), = t.items()
        if name == 'Decode':
            continue
        op = {'type': name}
        op.update(args or {})
        ops.append(op)
    shape = ((cfg.get('TestReader') or {}).get('inputs_def') or {}).get('image_shape')
    resizes = [op for op in ops if op['type'] == 'Resize']
    if shape and resizes and all(s is not None and int(s) > 0 for s in shape[1:]):
        size = [int(shape[1]), int(shape[2])]
        if list(resizes[-1].get('target_size') or []) != size:
            logger.info('Resize target_size %s -> %s: the input size of the export '
                        '(TestReader.inputs_def.image_shape)', resizes[-1].get('target_size'),
                        size)
            resizes[-1]['target_size'] = size
    return ops


def _float_only(model):
    """The layers the architecture keeps in float under quantization (None: not declared);
    recorded so that post-training quantization of the export skips the same ones as QAT."""
    from ppdet.modeling.architectures.meta_arch import NotDeclared, declared
    try:
        return list(declared(model, 'float_only_layers'))
    except NotDeclared:
        return None


FUSABLE_OPS = ('NormalizeImage', 'Permute')   # in this order, last in the reader


def fused_preprocess_spec(ops):
    """-> (the NormalizeImage arguments, the ops left to Python) for a fused export.

    Only a reader ending in NormalizeImage, Permute can be fused: the graph then takes
    what the ops before them give (uint8 HWC after Resize)."""
    names = [op['type'] for op in ops]
    if tuple(names[-2:]) != FUSABLE_OPS or any(n in FUSABLE_OPS for n in names[:-2]):
        raise ValueError('fuse_preprocess needs a TestReader ending in NormalizeImage, Permute '
                         '(got %s); export without --fuse_preprocess' % (names,))
    norm = {k: v for k, v in ops[-2].items() if k != 'type'}
    return norm, ops[:-2]


def write_infer_cfg(cfg, output_dir, label_list, exclude_nms=False, meta=None, quantized=False,
                    float_only=None, fuse_preprocess=False):
    info = {
        'mode': 'paddle',
        'arch': cfg['architecture'],
        'metric': cfg.get('metric', 'COCO'),
        'min_subgraph_size': 3,
        'draw_threshold': 0.5,
        'image_shape': _test_image_shape(cfg),
        'Preprocess': preprocess_spec(cfg),
        'label_list': list(label_list),
        'exclude_nms': bool(exclude_nms),
        'quantized': bool(quantized),
        'fuse_preprocess': bool(fuse_preprocess),
        'compression': meta or {},
    }
    if fuse_preprocess:
        # Preprocess still lists every op (what the model was evaluated with); the
        # Preprocessor runs only the ones before these, on uint8
        info['fused_ops'] = list(FUSABLE_OPS)
        info['input_layout'] = 'NHWC uint8'
    if float_only is not None:
        info['float_only_layers'] = list(float_only)
    write_yaml(os.path.join(output_dir, 'infer_cfg.yml'), info)
    return info


def input_spec(cfg, fuse_preprocess=False):
    c, h, w = _test_image_shape(cfg)
    image = (paddle.static.InputSpec([None, h, w, c], 'uint8', name='image') if fuse_preprocess
             else paddle.static.InputSpec([None, c, h, w], 'float32', name='image'))
    return [image,
            paddle.static.InputSpec([None, 2], 'float32', name='im_shape'),
            paddle.static.InputSpec([None, 2], 'float32', name='scale_factor')]


def _export_hooks(model, meta):
    """Let each recorded compression step change the export (e.g. QAT's int8 graph)."""
    from ppdet.slim.steps import get_step
    save, extra, quantized = paddle.jit.save, {}, False
    for rec in (meta or {}).get('steps') or []:
        hook = get_step(rec['kind']).export_hook(
            model, {k: v for k, v in rec.items() if k != 'kind'})
        if hook is not None:
            model, save = hook.model, hook.save
            extra.update(hook.infer_cfg or {})
            quantized = quantized or bool(hook.quantized)
    return model, save, extra, quantized


def _say_replaced(output_dir, parent):
    """Warn when ``output_dir`` holds the export of another checkpoint than ``parent``
    (exporting a pruned checkpoint with the base config used to replace the baseline's
    export in output/inference/CONFIG_NAME without a word)."""
    import yaml
    path = os.path.join(output_dir, 'infer_cfg.yml')
    if not parent or not os.path.isfile(path):
        return
    try:
        with open(path) as f:
            old = ((yaml.safe_load(f) or {}).get('compression') or {}).get('parent')
    except (OSError, yaml.YAMLError, AttributeError):
        return
    if old and os.path.abspath(str(old)) != os.path.abspath(str(parent)):
        logger.warning('%s holds the export of %s: it is replaced by the export of %s (give '
                       'another --output_dir to keep both)', output_dir, old, parent)


def export_model(model, cfg, output_dir, label_list, exclude_nms=False, meta=None,
                 fuse_preprocess=None):
    """Trace ``model`` with its post-process and save it under ``output_dir``.

    The graph comes from the architecture's own ``post_process`` (or ``decode`` with
    ``exclude_nms``); compression steps recorded in ``meta`` may change how it is saved.
    ``fuse_preprocess`` (default: the config's ``fuse_preprocess`` key, else off) puts the
    normalisation and the HWC -> CHW permute into the graph (see the module docstring).
    """
    from ppdet.deploy.infer_cfg import write_param_names
    from ppdet.deploy.program_fixes import rewrite_for_onednn
    from ppdet.modeling.architectures.inference_model import FusedPreprocess, InferenceModel
    check_output_dir(output_dir, '--output_dir')
    _say_replaced(output_dir, (meta or {}).get('parent'))
    if fuse_preprocess is None:
        fuse_preprocess = bool(cfg.get('fuse_preprocess', False))
    fused = None
    if fuse_preprocess:
        norm, _ = fused_preprocess_spec(preprocess_spec(cfg))
        fused = FusedPreprocess(**norm)
    traced, save, extra, quantized = _export_hooks(model, meta)
    traced.eval()
    wrapper = InferenceModel(traced, exclude_nms=exclude_nms, preprocess=fused)
    wrapper.eval()
    forget_failed_traces()
    static = paddle.jit.to_static(wrapper, input_spec=input_spec(cfg, fuse_preprocess),
                                  full_graph=True)
    # written beside output_dir and moved in, infer_cfg.yml last: a re-export killed
    # part-way leaves no mix of two models there (ppdet.utils.fileio.staged_dir)
    with staged_dir(output_dir) as stage:
        save(static, os.path.join(stage, MODEL_FILE))
        write_param_names(traced, stage)      # before the rewrites, which rename weights
        # conv biases as oneDNN fuses them (Paddle 2.6 writes reshape2 + add), decode convs
        # with vector-width channel counts (yolo_box's input reorder), concats feeding a 1x1
        # conv as sums of convs (no int8 concat of u8 and s8 maps), a fused normalisation's
        # / 255 and / std in the first conv, no identity scales before the outputs: see the
        # module
        rewrite_for_onednn(stage, fuse_preprocess=fuse_preprocess)
        info = dict(meta or {})
        info.update(extra)
        write_infer_cfg(cfg, stage, label_list, exclude_nms=exclude_nms, meta=info,
                        quantized=quantized, float_only=_float_only(traced),
                        fuse_preprocess=fuse_preprocess)
        # what was made from the model this one replaces (its PTQ reports, onnx and .nb
        # conversions) must not stay beside it: removed just before the new files move in
        from ppdet.deploy.derived import remove_derived
        remove_derived(output_dir)
    logger.info('exported %sinference model to %s', 'int8-ready ' if quantized else '',
                output_dir)
    return os.path.join(output_dir, MODEL_FILE)


def export_trained(cfg, save_dir, output_dir):
    """A training script's ``--save_inference``: export ``save_dir``'s ``model_final`` (as
    tools/export_model.py does, so the record names it as the parent) into ``output_dir``.
    A Ctrl-C here said only ``interrupted``, and running the same command again trained
    again: it says the training is saved and the command that exports it."""
    from ppdet.utils.cli import said_on_interrupt
    weights = os.path.join(save_dir, 'model_final')
    stem = os.path.splitext(os.path.basename(cfg.get('_config_path') or 'model'))[0]
    parent = (os.path.dirname(os.path.abspath(output_dir))
              if os.path.basename(os.path.normpath(output_dir)) == stem else output_dir)
    with said_on_interrupt(
            'the training is done and saved (%s); the export was not finished (%s is as it '
            'was): export it with  python tools/export_model.py -c %s -o weights=%s '
            '--output_dir %s' % (weights, output_dir, cfg.get('_config_path') or 'CONFIG',
                                 weights, parent)):
        return export_checkpoint(cfg, weights, output_dir)


def export_checkpoint(cfg, weights, output_dir, exclude_nms=False, fuse_preprocess=None):
    """Export the checkpoint ``weights`` of ``cfg``'s model to ``output_dir`` (the compression
    it records is rebuilt from the file; its labels are TestDataset's); -> the file prefix."""
    from ppdet.data import build_dataset
    from ppdet.engine.trainer import Trainer
    check_output_dir(output_dir, '--output_dir')
    trainer = Trainer(cfg, mode='test')
    meta = trainer.load_weights(weights, complete=True)  # no half-random export
    return export_model(trainer.model, cfg, output_dir,
                        build_dataset(cfg, 'TestDataset').label_list(), exclude_nms=exclude_nms,
                        meta=dict(meta, parent=os.path.abspath(weights)),
                        fuse_preprocess=fuse_preprocess)
