"""Post-training quantization of an exported model (quantization-aware training is
:mod:`ppdet.slim.qat`).

NNCF style - one call with a calibration set::

    quantize_post('output/inference/yolov3', images, 'output/int8', algo='hist')

runs PaddleSlim's ``quant_post_static`` on the exported model (NMS inside).  Only
``conv2d`` / ``depthwise_conv2d`` / ``mul`` / ``matmul`` ops are quantized (and, when
asked, residual adds that cannot fold into a conv), so the decoding and NMS stay in
float.  The output directory holds an int8-ready
``model.pdmodel/.pdiparams`` and a copy of ``infer_cfg.yml`` with
``quantized: true`` and the quantization settings under ``compression.quant``.
Paddle Inference runs it with real int8 kernels on CPU with ``enable_mkldnn()`` +
``enable_mkldnn_int8()``; :func:`ppdet.slim.quant_report.compare_int8` checks it
against fp32 before reporting any speed-up.

Calibration images are preprocessed exactly as ``infer_cfg.yml``'s ``Preprocess``
says.  ``data`` may be image paths, RGB ``HWC uint8`` arrays, already
preprocessed feed dicts (``image`` CHW float32, optional ``im_shape`` /
``scale_factor``) or a loader yielding batch dicts.
"""
import contextlib
import os
import re
import shutil
import tempfile

import numpy as np
import paddle

from ppdet.core.workspace import did_you_mean
from ppdet.deploy.infer_cfg import PARAM_NAMES, weights_by_layer
from ppdet.deploy.program_fixes import drop_fetch_scales
from ppdet.slim import residual_adds
from ppdet.slim.deploy_scales import align_output_thresholds, keep_residual_scales
from ppdet.utils.fileio import staged_dir, write_yaml
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

__all__ = ['quantize_post', 'calibration_images', 'quantize_post_with_report',
           'resolve_skip_layers', 'calibration_feeds', 'read_infer_cfg', 'stack_feeds',
           'PTQ_ALGOS', 'declared_float_only', 'DEFAULT_ONNX_FORMAT', 'QUANTIZABLE_OP_TYPES',
           'check_algo', 'check_dirs', 'check_not_quantized', 'unknown_layer_hint',
           'quantized_layers', 'check_keep_worst', 'remove_stale_reports']

PTQ_ALGOS = ('abs_max', 'avg', 'hist', 'KL', 'mse', 'emd')
# The detection decode (yolo_box) and NMS ops are not in this list and stay in float.
QUANTIZABLE_OP_TYPES = ('conv2d', 'depthwise_conv2d', 'mul', 'matmul')
MODEL_FILE, PARAMS_FILE, INFER_CFG = 'model.pdmodel', 'model.pdiparams', 'infer_cfg.yml'
FEED_NAMES = ('image', 'im_shape', 'scale_factor')


# -- exported-model helpers -------------------------------------------------------
def _check_model_dir(model_dir):
    for f in (MODEL_FILE, PARAMS_FILE):
        if not os.path.isfile(os.path.join(str(model_dir), f)):
            raise FileNotFoundError(
                '%s has no %s: give the directory written by tools/export_model.py '
                '(or pass -o weights=CKPT to export first)' % (model_dir, f))


def check_algo(algo):
    """Refuse an unknown PTQ algorithm, naming the close ones (``kl`` -> ``'KL'``)."""
    if algo in PTQ_ALGOS:
        return algo
    by_lower = {a.lower(): a for a in PTQ_ALGOS}
    hint = ("; did you mean %r?" % by_lower[str(algo).lower()]
            if str(algo).lower() in by_lower else did_you_mean(algo, PTQ_ALGOS))
    raise ValueError('unknown PTQ algo %r%s (choose from %s)' % (algo, hint, ', '.join(PTQ_ALGOS)))


def check_dirs(model_dir, out_dir):
    """Refuse, before anything is written, an output directory that is the model directory
    (the int8 graph would overwrite the fp32 model it is calibrated from) and a model that is
    already int8 (PTQ needs the fp32 one)."""
    if out_dir is not None and os.path.realpath(str(out_dir)) == os.path.realpath(str(model_dir)):
        raise ValueError('the output dir %s is the model dir: the int8 model would overwrite the '
                         'fp32 model it is made from; give another --output_dir (e.g. %s_int8)'
                         % (out_dir, str(model_dir).rstrip('/')))
    _check_model_dir(model_dir)
    check_not_quantized(model_dir)


def check_not_quantized(model_dir):
    """Raise ValueError when ``model_dir`` already holds an int8 model: its ``infer_cfg.yml``
    says ``quantized: true``, or its program has quantize / dequantize ops."""
    from ppdet.deploy.lite import is_quant_op
    from ppdet.utils.static_graph import load_program
    info = read_infer_cfg(model_dir) if os.path.isfile(
        os.path.join(str(model_dir), INFER_CFG)) else {}
    record = (info.get('compression') or {}).get('quant') or {}
    if info.get('quantized'):
        source = record.get('source_model')
        if record.get('method') == 'post_training' and source:
            fix = 'give the fp32 model it was made from: --model_dir %s' % source
        else:
            comp = info.get('compression') or {}
            fix = ('give an fp32 export (tools/export_model.py%s%s)' % (
                ' -c %s' % comp['config'] if comp.get('config') else '',
                ' -o weights=%s' % comp['parent'] if comp.get('parent') else ''))
        raise ValueError('%s is already quantized (its infer_cfg.yml says quantized: true%s): '
                         'post-training quantization starts from the fp32 model; %s' % (
                             model_dir, ', %s' % record['method'] if record.get('method') else '',
                             fix))
    ops = [op.type for op in load_program(model_dir)[0].global_block().ops
           if is_quant_op(op.type)]
    if ops:
        raise ValueError('%s holds an int8 graph (%d quantize/dequantize ops) though its '
                         'infer_cfg.yml does not say quantized: true (written over by a PTQ run '
                         'with --output_dir the model dir?): post-training quantization starts '
                         'from the fp32 model; re-export it with tools/export_model.py and give '
                         'that directory' % (model_dir, len(ops)))


def read_infer_cfg(model_dir):
    import yaml
    path = os.path.join(str(model_dir), INFER_CFG)
    if not os.path.isfile(path):
        raise FileNotFoundError('%s not found: the calibration preprocessing is read from it '
                                '(re-export with tools/export_model.py)' % path)
    with open(path) as f:
        return yaml.safe_load(f) or {}


# -- calibration data -------------------------------------------------------------
def _split_batch(batch):
    """A loader batch dict (tensors or arrays, leading batch dim) -> per-sample feeds."""
    arrays = {k: np.asarray(batch[k].numpy() if hasattr(batch[k], 'numpy') else batch[k],
                            'float32') for k in FEED_NAMES if k in batch}
    return [{k: v[i] for k, v in arrays.items()} for i in range(arrays['image'].shape[0])]


def calibration_images(cfg, count, section='TrainDataset'):
    """The first ``count`` image paths (sorted) of the config's ``section``: what the
    pipeline and the PTQ benchmarks calibrate on."""
    from ppdet.data import build_dataset
    return sorted(build_dataset(cfg, section).get_imid2path().values())[:int(count)]


def calibration_feeds(model_dir, data, limit=None):
    """Normalise ``data`` into a list of per-sample feed dicts of numpy arrays."""
    pre = None
    out = []
    for item in data:
        if isinstance(item, dict):
            img = item['image']
            img = img.numpy() if hasattr(img, 'numpy') else np.asarray(img)
            samples = _split_batch(item) if img.ndim == 4 else [item]
        else:
            # the deploy-side preprocessing: calibration sees exactly what inference sees
            from ppdet.deploy.preprocess import Preprocessor, decode_image
            if pre is None:
                pre = Preprocessor(read_infer_cfg(model_dir))
            rgb = decode_image(str(item)) if isinstance(item, (str, os.PathLike)) else item
            samples = [pre.one(rgb)]
        for s in samples:
            img = np.asarray(s['image'])
            # uint8 stays uint8: a fused-preprocess export's image input (HWC)
            img = img if img.dtype == np.uint8 else img.astype('float32')
            h, w = img.shape[:2] if img.dtype == np.uint8 else img.shape[-2:]
            out.append({'image': img,
                        'im_shape': np.asarray(s.get('im_shape', [h, w]), 'float32'),
                        'scale_factor': np.asarray(s.get('scale_factor', [1., 1.]), 'float32')})
            if limit is not None and len(out) >= limit:
                return out
    if not out:
        raise ValueError('no calibration images: give image paths, arrays or a data loader')
    return out


def stack_feeds(feeds):
    return {k: np.stack([f[k] for f in feeds]) for k in FEED_NAMES}


class _FeedDataset(paddle.io.Dataset):
    def __init__(self, feeds, names):
        self.feeds, self.names = feeds, names

    def __len__(self):
        return len(self.feeds)

    def __getitem__(self, i):
        return tuple(self.feeds[i][k] for k in self.names)


def _static_loader(feeds, batch_size, names):
    """PostTrainingQuantization accepts only a static-mode paddle.io.DataLoader."""
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup):
        # a fused-preprocess export takes its image as uint8
        feed_list = [paddle.static.data(n, [None] + list(feeds[0][n].shape),
                                        str(np.asarray(feeds[0][n]).dtype))
                     for n in names]
    return paddle.io.DataLoader(_FeedDataset(feeds, names), feed_list=feed_list,
                                return_list=False,
                                batch_size=batch_size, shuffle=False, drop_last=False,
                                places=paddle.CPUPlace())


# -- post-training quantization ---------------------------------------------------
_SHARED_CALL_WARNED = set()    # said once per run, not at each of the script's checks


def resolve_skip_layers(model_dir, names):
    """Layer names (readable or exported) -> exported weight tensor names for skip_tensor_list."""
    if not names:
        return []
    if isinstance(names, str):
        names = [n for n in names.split(',') if n.strip()]
    by_layer = weights_by_layer(model_dir)
    known = set(_weight_tensors(model_dir))
    out = []
    for n in (s.strip() for s in names):
        layer = n[:-len('.weight')] if n.endswith('.weight') and n not in by_layer else n
        call = re.match(r'^(.+)@\d+$', n)
        if call and n not in known and call.group(1) in by_layer:
            # the report's 'layer@k' (the k-th call of a shared conv): the calls share one
            # weight tensor, and PaddleSlim skips by weight, so every call stays fp32
            layer = call.group(1)
            if (model_dir, n) not in _SHARED_CALL_WARNED:
                _SHARED_CALL_WARNED.add((model_dir, n))
                logger.warning('--skip_layers %s: the calls of %s share one weight, so all of them '
                               'stay in fp32', n, layer)
        if n in known:
            out.append(n)
        elif any(t in known for t in by_layer.get(layer, ())):
            out.extend(t for t in by_layer[layer] if t in known)
        else:
            raise ValueError('unknown layer %r to keep in fp32%s (the per-layer report lists the '
                             'quantized layers: --report)' % (
                                 n, unknown_layer_hint(n, sorted(known) + sorted(by_layer))))
    return out


def unknown_layer_hint(name, known):
    """``'; did you mean 'a' or 'b'?'`` for the layer names of ``known`` close to ``name``
    (else ''): the hint of ``--skip_layers`` here and of QAT's ``not_quant_pattern``."""
    import difflib
    close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.5)
    return '; did you mean ' + ' or '.join(map(repr, close)) + '?' if close else ''


def _split(names):
    if isinstance(names, str):
        return [n.strip() for n in names.split(',') if n.strip()]
    return list(names or [])


def declared_float_only(model_dir):
    """The layers the exported model's architecture declares float-only
    (``float_only_layers()``, the rule QAT follows): from ``infer_cfg.yml`` (written by
    export), else by building the architecture from the config the export recorded."""
    info = read_infer_cfg(model_dir)
    if info.get('float_only_layers') is not None:
        return list(info['float_only_layers'])
    config = (info.get('compression') or {}).get('config')
    if not config or not os.path.isfile(str(config)):
        logger.warning('%s records no float_only_layers and no readable config to ask the '
                       'architecture: every layer is quantized, the output convs too (re-export '
                       'with tools/export_model.py or give float_only_layers=[...])', model_dir)
        return []
    import ppdet.modeling  # noqa: F401  (registers the architectures)
    from ppdet.core.workspace import create, load_config
    from ppdet.modeling.architectures.meta_arch import declared
    cfg = load_config(config)
    num_classes = (info.get('compression') or {}).get('num_classes')
    if num_classes:
        cfg['num_classes'] = num_classes
    return list(declared(create(cfg['architecture'], cfg), 'float_only_layers'))


def _weight_tensors(model_dir):
    """Names of the weights of quantizable ops in an exported model."""
    from ppdet.slim.quant_report import load_program, quantizable_ops
    prog, _, _, _ = load_program(model_dir)
    return [w for _, w, _ in quantizable_ops(prog)]


# onnx_format, chosen by measurement (benchmarks/results/ptq_quality.md: built-in YOLOv3,
# 32 TrainDataset calibration images, 150 val images, deployed = Paddle Inference oneDNN int8):
# False, with the thresholds aligned (ppdet.slim.deploy_scales).  Deployed AP / simulated AP /
# detection agreement between them:
#   abs_max  False 37.55 / 37.48 / 96%    True 36.58 / 37.46 / 90%
#   avg      False 37.35 / 37.38 / 97%    True 35.39 / 37.33 / 81%
#   hist     False 37.33 / 37.46 / 97%    True 34.91 / 37.50 / 81%
#   KL       False 37.05 / 36.98 / 95%    True 29.94 / 36.92 / 67%
#   mse      False 36.36 / 36.42 / 90%    True 28.76 / 35.21 / 65%
# The ONNX-style graph simulates a quantize-dequantize after every op PaddleSlim observed (the
# conv output before BN, the BN output, the activation): clips that oneDNN cannot reproduce
# once it fuses conv+BN+activation, so its deployed model departs from its simulation.  The
# other graph simulates int8 only at conv inputs, which oneDNN reproduces exactly once the
# thresholds it must not use are removed.
DEFAULT_ONNX_FORMAT = False


def quantize_post(model_dir, data, out_dir, algo='hist', batch_nums=10, batch_size=1,
                  weight_per_channel=True, skip_tensors=None, onnx_format=DEFAULT_ONNX_FORMAT,
                  hist_percent=0.9999, quantize_float_only=False, float_only_layers=None,
                  calibration_source=None, quantize_residual_adds=False):
    """Post-training int8 quantization of an exported model; returns ``out_dir``.

    ``data``: calibration images (see module doc); ``batch_nums * batch_size`` of
    them are used.  ``skip_tensors``: layers kept in fp32, by exported weight name
    (``conv2d_12.w_0``) or by layer name (``neck.yolo_block.0.tip.conv``).  The layers
    the architecture declares float-only (its output convs; the same rule as QAT) are
    kept in fp32 too unless ``quantize_float_only``; ``float_only_layers`` overrides
    the declared list (default: :func:`declared_float_only`).  ``calibration_source``
    (e.g. ``'TrainDataset'``) is only recorded.  ``quantize_residual_adds``: also the adds
    of a shortcut to an activation's output, which oneDNN cannot fold into a conv
    (BlazeFace's blocks; :mod:`ppdet.slim.residual_adds`).
    """
    check_algo(algo)
    if quantize_residual_adds and onnx_format:
        raise ValueError('quantize_residual_adds needs onnx_format=False (the ONNX-style graph '
                         'simulates every op PaddleSlim observed already)')
    if int(batch_nums) < 1 or int(batch_size) < 1:
        raise ValueError('batch_nums and batch_size must be >= 1 (got %s, %s)' % (
            batch_nums, batch_size))
    check_dirs(model_dir, out_dir)
    asked = int(batch_nums) * int(batch_size)
    feeds = calibration_feeds(model_dir, data, limit=asked)
    if len(feeds) < asked:   # said: the scales come from fewer images than the flags ask
        logger.warning('PTQ %s: %d calibration image(s), not the %d asked for (--batch_nums %s '
                       'x --batch_size %s): the data has no more; the activation ranges of so '
                       'few images may clip others', algo, len(feeds), asked, batch_nums,
                       batch_size)
    float_only = [] if quantize_float_only else (
        list(float_only_layers) if float_only_layers is not None
        else declared_float_only(model_dir))
    skip = resolve_skip_layers(model_dir, _split(skip_tensors))
    float_only_tensors = [t for t in resolve_skip_layers(model_dir, float_only) if t not in skip]
    skip += float_only_tensors
    logger.info('PTQ %s: calibrating on %d images%s; kept in fp32: %d declared float-only '
                'layer(s)%s, %d asked', algo, len(feeds),
                ' from %s' % calibration_source if calibration_source else '',
                len(float_only_tensors), ' (%s)' % ', '.join(float_only) if float_only else '',
                len(skip) - len(float_only_tensors))
    weight_type = 'channel_wise_abs_max' if weight_per_channel else 'abs_max'
    adds = residual_adds.standalone_adds(model_dir, skip) if quantize_residual_adds else []
    op_types = QUANTIZABLE_OP_TYPES + ((residual_adds.ADD_OP,) if adds else ())
    if quantize_residual_adds:
        logger.info('residual adds quantized: %d', len(adds))
        if adds and algo == 'abs_max':
            logger.warning('residual adds with abs_max: their scales follow the largest '
                           'activation seen, and rounding the residual stream at every add '
                           'cost the built-in BlazeFace-Lite 5.5 Easy AP at 32 calibration '
                           'images (none at 16); mse, KL or hist kept it: use --algo mse')
    # written beside out_dir and moved in, infer_cfg.yml last: an interrupted run leaves no
    # mix of two models there (ppdet.utils.fileio.staged_dir)
    with staged_dir(out_dir) as stage:
        with _residual_adds_marked(model_dir, adds) as ptq_dir:
            run_ptq(ptq_dir, feeds, stage, algo=algo, batch_size=int(batch_size),
                    weight_quantize_type=weight_type, skip_tensor_list=skip,
                    onnx_format=onnx_format, hist_percent=hist_percent, op_types=op_types)
        # oneDNN int8 uses only the scales the simulation used (ppdet.slim.deploy_scales)
        aligned = None if onnx_format else align_output_thresholds(stage)
        # ... and the residual scales of the export's split concats (see that module)
        residual_scales = 0 if onnx_format else keep_residual_scales(stage)
        drop_fetch_scales(stage)             # the identity ops PaddleSlim's save added
        record = {'method': 'post_training', 'algo': algo, 'batch_nums': int(batch_nums),
                  'batch_size': int(batch_size), 'calibration_images': len(feeds),
                  'weight_quantize_type': weight_type,
                  'activation_quantize_type': 'range_abs_max',
                  'quantizable_op_type': list(op_types),
                  'quantize_residual_adds': bool(quantize_residual_adds),
                  'residual_adds_int8': len(adds),
                  'skip_tensor_list': skip, 'onnx_format': bool(onnx_format),
                  'float_only_layers': float_only, 'float_only_tensors': float_only_tensors,
                  'quantize_float_only': bool(quantize_float_only),
                  'calibration_source': calibration_source,
                  'aligned_thresholds': aligned, 'residual_scales': int(residual_scales),
                  'source_model': os.path.abspath(str(model_dir))}
        if algo == 'hist':
            record['hist_percent'] = hist_percent
        write_quant_infer_cfg(model_dir, stage, record)
        # the reports of the model this one replaces must not stay beside it (they named
        # other layers kept fp32); removed just before the new files move in
        remove_stale_reports(out_dir)
    return out_dir


def remove_stale_reports(out_dir):
    """Remove what was made from the model ``out_dir`` held (its PTQ reports, its onnx and
    ``.nb`` conversions, ``--bench``'s ``model_int8.onnx``: :mod:`ppdet.deploy.derived`),
    nothing else: a new model is written there; -> the names removed."""
    from ppdet.deploy.derived import remove_derived
    removed = remove_derived(out_dir)
    if removed:
        logger.info('%s: removed what was made from the model it held (%s)', out_dir,
                    ', '.join(removed))
    return removed


def quantized_layers(model_dir, skip_tensors=None, quantize_float_only=False,
                     float_only_layers=None):
    """The weight tensors PTQ would quantize in ``model_dir``: those of the quantizable ops,
    less ``skip_tensors`` and (unless ``quantize_float_only``) the float-only layers."""
    skip = set(resolve_skip_layers(model_dir, _split(skip_tensors)))
    if not quantize_float_only:
        float_only = (list(float_only_layers) if float_only_layers is not None
                      else declared_float_only(model_dir))
        skip.update(resolve_skip_layers(model_dir, float_only))
    out = []
    for t in _weight_tensors(model_dir):
        if t not in skip and t not in out:
            out.append(t)
    return out


def check_keep_worst(model_dir, keep_worst, skip_tensors=None, quantize_float_only=False,
                     float_only_layers=None):
    """Refuse a ``keep_worst`` that would keep every layer PTQ quantizes in fp32: the result
    would hold no int8 layer yet be labelled int8 (``quantized: true``)."""
    if not keep_worst:
        return
    layers = quantized_layers(model_dir, skip_tensors, quantize_float_only, float_only_layers)
    if int(keep_worst) >= len(layers):
        raise ValueError(
            '--keep_worst %d would keep every one of the %d layer(s) PTQ quantizes in %s in fp32 '
            '(the float-only and --skip_layers ones are fp32 already): the model would have no '
            'int8 layer; give --keep_worst %s' % (
                int(keep_worst), len(layers), model_dir,
                'at most %d' % (len(layers) - 1) if len(layers) > 1 else
                '0 (or fewer --skip_layers)'))


def quantize_post_with_report(model_dir, data, out_dir, keep_worst=0, report_images=4,
                              skip_tensors=None, **kwargs):
    """PTQ, then the per-layer error reports; with ``keep_worst=K`` re-run PTQ keeping in
    fp32 the K layers that add the most error to the DEPLOYED graph (oneDNN int8, measured
    by :func:`ppdet.slim.quant_report.deployed_layer_report`), not to the simulation.

    Returns ``(out_dir, reports)``: ``reports['first']`` (simulated, rows as in
    :func:`ppdet.slim.quant_report.layer_report`), ``reports['deployed']`` (the deployed
    report), and, when re-run, ``reports['final']``, ``reports['final_deployed']`` and
    ``reports['kept_fp32']``.
    """
    from ppdet.slim.quant_report import deployed_layer_report, deployed_worst, layer_report
    data = list(data) if not isinstance(data, list) else data
    check_keep_worst(model_dir, keep_worst, skip_tensors, kwargs.get('quantize_float_only'),
                     kwargs.get('float_only_layers'))
    probe = stack_feeds(calibration_feeds(model_dir, data, limit=int(report_images)))
    skip = resolve_skip_layers(model_dir, _split(skip_tensors))
    quantize_post(model_dir, data, out_dir, skip_tensors=skip, **kwargs)
    reports = {'first': layer_report(model_dir, out_dir, probe),
               'deployed': deployed_layer_report(model_dir, out_dir, probe)}
    if keep_worst:
        worst = deployed_worst(reports['deployed'], keep_worst)
        reports['kept_fp32'] = worst
        logger.info('re-running PTQ with the %d layers adding the most deployed int8 error in '
                    'fp32: %s', len(worst), ', '.join(worst))
        quantize_post(model_dir, data, out_dir, skip_tensors=skip + worst, **kwargs)
        reports['final'] = layer_report(model_dir, out_dir, probe)
        reports['final_deployed'] = deployed_layer_report(model_dir, out_dir, probe)
    return out_dir, reports


@contextlib.contextmanager
def _residual_adds_marked(model_dir, adds):
    """``model_dir``, or with ``adds`` a temporary copy in which PTQ quantizes only those
    adds (:func:`ppdet.slim.residual_adds.marked_copy`)."""
    if not adds:
        yield model_dir
        return
    tmp = tempfile.mkdtemp(prefix='ptq_adds_')
    try:
        yield residual_adds.marked_copy(model_dir, os.path.join(tmp, 'model'), adds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_ptq(model_dir, feeds, out_dir, algo='hist', batch_size=1,
            weight_quantize_type='channel_wise_abs_max', skip_tensor_list=None,
            onnx_format=False, hist_percent=0.9999, op_types=QUANTIZABLE_OP_TYPES):
    from paddleslim.quant import quant_post_static
    from ppdet.slim.kl_threshold import fast_kl_search
    from ppdet.slim.ptq_avg import scalar_safe_avg
    from ppdet.utils.static_graph import load_program, static_mode
    # the model's own inputs (a bare network export feeds only 'image')
    names = [n for n in load_program(model_dir)[1] if n in FEED_NAMES]
    with static_mode():
        loader = _static_loader(feeds, batch_size, names)
        exe = paddle.static.Executor(paddle.CPUPlace())
        batches = (len(feeds) + batch_size - 1) // batch_size
        scope = paddle.static.Scope()  # PTQ loads the model into the current scope: keep it apart
        with paddle.static.scope_guard(scope), fast_kl_search(), scalar_safe_avg():
            quant_post_static(
                exe, str(model_dir), str(out_dir), data_loader=loader,
                model_filename=MODEL_FILE, params_filename=PARAMS_FILE,
                save_model_filename=MODEL_FILE, save_params_filename=PARAMS_FILE,
                batch_size=batch_size, batch_nums=batches, scope=scope,
                algo=algo, hist_percent=hist_percent,
                quantizable_op_type=list(op_types),
                weight_quantize_type=weight_quantize_type,
                activation_quantize_type='range_abs_max', onnx_format=bool(onnx_format),
                skip_tensor_list=list(skip_tensor_list or []) or None)
    _check_model_dir(out_dir)
    names = os.path.join(str(model_dir), PARAM_NAMES)
    if os.path.isfile(names):
        shutil.copyfile(names, os.path.join(str(out_dir), PARAM_NAMES))


def write_quant_infer_cfg(src_dir, out_dir, record):
    """Copy ``infer_cfg.yml`` with ``quantized: true`` and ``compression.quant = record``."""
    info = read_infer_cfg(src_dir)
    info['quantized'] = True
    comp = dict(info.get('compression') or {})
    comp['quant'] = record
    info['compression'] = comp
    write_yaml(os.path.join(str(out_dir), INFER_CFG), info)
    return info
