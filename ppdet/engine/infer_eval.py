"""Accuracy of an *exported* model (fp32 or int8) through a deployment runtime.

Quantized models are judged where they run: the eval images go through the same
eval reader as the dygraph evaluation, then through the predictor (Paddle Inference
with oneDNN int8 for quantized models, or ONNX Runtime), then the same metric.
"""
import contextlib
import io
import os

import numpy as np
from tqdm import tqdm

from ppdet.deploy.infer_cfg import load_infer_cfg, require_nms
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)


def _model_of(arch, metric, classes):
    """'RetinaNet (COCO, 6 classes)'."""
    return '%s (%s, %s)' % (arch, metric, 'class count unknown' if classes is None else
                            '1 class' if classes == 1 else '%d classes' % classes)


def check_exported_with(cfg, info, model_dir):
    """Refuse evaluating the export ``model_dir`` (its infer_cfg.yml ``info``) with a config
    of another model: architecture and class count (its label_list) must be the config's.
    Another model's export gave an AP of nothing (RetinaNet scored as FCOS) or failed deep
    in Paddle (a broadcast mismatch).  The metric is named in the message but not compared:
    one model may be scored on another annotation layout (a face model on a COCO-layout face
    set).  A value either side lacks is not compared."""
    labels = info.get('label_list')
    exported = (info.get('arch'), info.get('metric', 'COCO'),
                len(labels) if labels else None)
    arch = cfg.get('architecture')
    classes = cfg.get('num_classes')
    config = (arch, cfg.get('metric', 'COCO'), int(classes) if classes is not None else None)
    if all(a is None or b is None or a == b for a, b in zip(exported[::2], config[::2])):
        return
    source = (info.get('compression') or {}).get('config')
    raise ValueError('%s was exported from %s; -c %s is %s: use the config it was exported '
                     'with%s' % (model_dir, _model_of(*exported), cfg.get('_config_path') or
                                 '(the config)', _model_of(*config),
                                 ', -c %s' % source if source else ''))


def evaluate_exported(cfg, model_dir, run_mode='paddle', cpu_threads=2, max_images=None,
                      simulate=False, outputs=None, enable_mkldnn_bfloat16=False,
                      output_eval=None):
    """Run the config's metric over EvalDataset with the exported model in ``model_dir``.

    ``simulate``: run a quantized model's fake-quant graph in float (Paddle Inference
    without oneDNN: what PaddleSlim simulated) instead of its oneDNN int8 kernels.
    ``outputs``: a list that receives each image's output dict (for agreement checks).
    ``enable_mkldnn_bfloat16``: an fp32 model in bf16 (Paddle oneDNN, native-bf16 CPUs).
    ``output_eval``: directory for the metric's detection files (COCO ``bbox.json``, WIDER
    FACE per-image ``<event>/<name>.txt``).  The config must be of the model the export
    was made from (:func:`check_exported_with`).
    Returns the metric's :class:`~ppdet.metrics.EvalResult` (``.primary``: e.g. COCO AP).
    """
    from ppdet.data import build_dataset, create_reader
    from ppdet.deploy.predictors import create_predictor
    from ppdet.metrics import build_metric
    info = load_infer_cfg(model_dir)
    require_nms(model_dir, info, 'evaluation')
    check_exported_with(cfg, info, model_dir)
    quantized = bool(info.get('quantized'))
    if simulate:
        from ppdet.deploy.predictors import PaddlePredictor
        from ppdet.slim.qat_simulation import trained_simulation
        # a QAT export without the output-scale pairs its model never rounded at
        with trained_simulation(model_dir) as sim_dir:
            pred = PaddlePredictor(sim_dir, cpu_threads=cpu_threads, enable_mkldnn=False)
    else:
        pred = create_predictor(model_dir, run_mode=run_mode, cpu_threads=cpu_threads,
                                enable_mkldnn_int8=quantized and run_mode == 'paddle',
                                enable_mkldnn_bfloat16=enable_mkldnn_bfloat16)
    to_input = _fused_input(info) if info.get('fuse_preprocess') else None
    dataset = build_dataset(cfg, 'EvalDataset')
    loader = create_reader(cfg, 'eval', dataset=dataset)
    metric = build_metric(cfg, dataset, output_eval=output_eval)
    metric.reset()
    seen = 0
    for batch in tqdm(loader, desc='eval %s' % os.path.basename(model_dir.rstrip('/')),
                      leave=False):
        feeds = {k: np.asarray(batch[k].numpy() if hasattr(batch[k], 'numpy') else batch[k],
                               'float32') for k in ('image', 'im_shape', 'scale_factor')}
        if to_input is not None:
            feeds['image'] = to_input(feeds['image'])
        n = feeds['image'].shape[0]
        rows, nums = [], []
        for i in range(n):  # batch 1 through the predictor, as deployed
            out = pred.run({k: v[i:i + 1] for k, v in feeds.items()})
            if outputs is not None:
                outputs.append(out)
            rows.append(np.asarray(out['bbox']).reshape(-1, 6))
            nums.append(int(np.asarray(out['bbox_num']).reshape(-1)[0]))
        metric.update(batch, {'bbox': np.concatenate(rows, 0) if rows else np.zeros([0, 6]),
                              'bbox_num': np.asarray(nums, 'int32')})
        seen += n
        if max_images is not None and seen >= max_images:
            break
    with contextlib.redirect_stdout(io.StringIO()):
        metric.accumulate()
    results = metric.summary()
    logger.info('%s (%s%s): %s %.4f on %d images', model_dir, run_mode,
                ', simulated' if simulate else ', int8' if quantized else
                ', bf16' if enable_mkldnn_bfloat16 else '',
                results.primary_name, results.primary, seen)
    return results


def _fused_input(info):
    """A fused export (``fuse_preprocess``) normalises in its graph and takes the resized
    uint8 NHWC image: -> a function turning the eval reader's normalised NCHW float batch
    back into it (the reader resizes uint8 pixels, so the round trip is exact)."""
    from ppdet.deploy.preprocess import build_ops
    spec = [op for op in info.get('Preprocess') or [] if op.get('type') == 'NormalizeImage']
    if not spec:
        raise ValueError('%s is a fused export (fuse_preprocess) but its infer_cfg.yml '
                         'Preprocess has no NormalizeImage to undo' % info.get('arch'))
    norm = build_ops(spec[:1])[0]          # the eval operator, with its own defaults
    mean = np.asarray(norm.mean, 'float32').reshape(1, -1, 1, 1)
    std = np.asarray(norm.std, 'float32').reshape(1, -1, 1, 1)
    scale = 255.0 if norm.is_scale else 1.0

    def to_input(image):
        pixels = (np.asarray(image, 'float32') * std + mean) * scale
        return np.clip(np.rint(pixels), 0, 255).astype('uint8').transpose(0, 2, 3, 1)
    return to_input
