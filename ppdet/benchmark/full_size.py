"""The full-size latency table: the seed's real architectures at their real input sizes,
end to end (preprocess + inference + postprocess), on the CPU runtimes.

Two stages, so that models are built while the CPU is busy and timed when it is quiet:

* :func:`build_rows` builds every (config, input size, strategy) model from the full-size
  configs, gives its head a trained-like output distribution (:func:`init_head_like_trained`),
  exports it with the pre-processing fused (``fuse_preprocess``), quantizes a copy
  (abs_max PTQ, oneDNN int8) and writes ``manifest.json``.
* :func:`time_rows` loads every row as a :class:`~ppdet.deploy.Detector` per runtime and
  thread count, times them interleaved (:func:`~ppdet.deploy.benchmark.interleaved_latency`:
  alternating rounds, sleeps between runs) and records the median end-to-end time, the
  pre / inference / post split (stage means), the memory a runtime adds and how many
  detections come out.

Weights are random (no COCO weights can be downloaded here), but the NMS load is that of a
trained detector: a random head scores every box ~0.25, so all 22743 boxes x 80 classes at
608 pass a 0.01 threshold and NMS, not the network, is timed.  The head's objectness and
class logits are rescaled to a trained-like spread, and the objectness offset is set by
bisection so that ``candidates`` (box, class) pairs score above the NMS threshold on the
timed photo; the counts reached through the real decode (on that photo, and the mean over
the calibration photos) are recorded per row.
"""
import collections
import os
import shutil
import time

import numpy as np

from ppdet.utils.fileio import read_json, write_json
from ppdet.utils.logger import setup_logger

from .cpu import cpu_flags

logger = setup_logger(__name__)

__all__ = ['FULL_SIZE_CONFIGS', 'FULL_GRID', 'QUICK_GRID', 'FAMILY_GRID', 'STRATEGIES',
           'default_strategies', 'strategy_plan', 'load_full_size',
           'init_head_like_trained', 'candidates_above', 'build_rows', 'time_rows',
           'format_table', 'cpu_flags', 'load_cell', 'runtimes_for', 'is_anchor', 'matched_share',
           'zero_area_share', 'channel_values', 'BOX_SPREADS', 'check_runtimes',
           'TIMED_RUNTIMES', 'check_strategy', 'check_input_size']

FULL_SIZE_CONFIGS = collections.OrderedDict([
    ('yolov3_mobilenet_v1', 'configs/yolov3_mobilenet_v1.yml'),
    ('yolov3_r34', 'configs/yolov3_r34.yml'),
    ('yolov3_r50vd_dcn', 'configs/yolov3_r50vd_dcn.yml'),
    ('blazeface', 'configs/face_detection/blazeface_640.yml'),
    ('blazeface_lite', 'configs/face_detection/blazeface_lite_640.yml'),
    ('retinanet_r50_fpn', 'configs/retinanet/retinanet_r50_fpn_1x_coco.yml'),
    ('fcos_r50_fpn', 'configs/fcos/fcos_r50_fpn_1x_coco.yml'),
])
FULL_GRID = (('yolov3_mobilenet_v1', 320), ('yolov3_mobilenet_v1', 416),
             ('yolov3_mobilenet_v1', 608), ('yolov3_r34', 608), ('yolov3_r50vd_dcn', 608))
QUICK_GRID = (('yolov3_mobilenet_v1', 320), ('yolov3_mobilenet_v1', 608))
# the other families at their deployment sizes (RetinaNet / FCOS square, like the YOLOv3 rows;
# their COCO recipe keeps the aspect ratio at 800 x 1333)
FAMILY_GRID = (('blazeface', 640), ('blazeface_lite', 640), ('retinanet_r50_fpn', 800),
               ('fcos_r50_fpn', 800))
STRATEGIES = ('baseline', 'sensity', 'r578')
# what each family is timed with when --strategies is not given: YOLOv3's seed presets, and
# for the others the families' pipelines' uniform plan (40% of every prunable conv's filters)
YOLO_STRATEGIES = ('baseline', 'sensity', 'r578', 'r578@8', 'r578@32')
FAMILY_STRATEGIES = ('baseline', 'uniform_p40', 'uniform_p40@32')
# spread of the rescaled logits and the class logits' mean (a trained head: most class
# probabilities small, a few large)
OBJ_SPREAD, CLS_SPREAD, CLS_MEAN = 2.0, 2.0, -3.0
# (mean, std) of a trained-like detector's box outputs, by how decoding reads them
# (``box_logit_channels()``): boxes about the anchor's size, centres within their cell
BOX_SPREADS = {
    'center': (0.0, 1.0),           # YOLOv3 tx, ty: sigmoid(t) + cell
    'log_size': (0.0, 0.5),         # YOLOv3 tw, th: anchor * exp(t)
    'delta_center': (0.0, 0.1),     # RetinaNet dx, dy: anchor centre + d * anchor size
    'delta_log_size': (0.0, 0.2),   # RetinaNet dw, dh: anchor size * exp(d)
    'log_distance': (3.5, 0.5),     # FCOS exp(x): 33 px from the point to a side
    'stride_distance': (2.0, 1.0),  # FCOS norm_reg_targets: relu(x) * stride
}


def default_strategies(config_name):
    """The strategies a config of the grid is timed with by default."""
    return YOLO_STRATEGIES if config_name.startswith('yolov3') else FAMILY_STRATEGIES


def check_input_size(flag, size):
    """Refuse an input size that is not a positive multiple of 32 (YOLOv3 and the FPNs
    downsample by 32: any other size fails in Paddle after minutes of building), naming
    ``flag``.  -> ``size``."""
    from ppdet.utils.cli import check_range
    check_range(flag, size, 32, hint='an input size')
    if size % 32:
        raise ValueError('%s: %d is not a multiple of 32 (the models downsample by 32; e.g. %d '
                         'or %d)' % (flag, size, size // 32 * 32 or 32, size // 32 * 32 + 32))
    return size


def load_full_size(config, size, overrides=()):
    """The config with its test input (``image_shape`` and ``Resize``) a ``size`` square
    (a fixed input: the aspect ratio is not kept)."""
    from ppdet.core.workspace import load_config
    cfg = load_config(config, overrides=['TestReader.inputs_def.image_shape=[3,%d,%d]'
                                         % (size, size)] + list(overrides))
    for t in cfg['TestReader']['sample_transforms']:
        if 'Resize' in t:
            t['Resize']['target_size'] = [size, size]
            t['Resize']['keep_ratio'] = False
    return cfg


def parse_strategy(strategy):
    """'r578' -> ('r578', 0); 'r578@16' -> ('r578', 16): the preset with its kept channels
    rounded down to multiples of 16 (``PrunePlan.round_channels``)."""
    preset, _, multiple = str(strategy).partition('@')
    return preset, int(multiple or 0)


def uniform_percent(preset):
    """'uniform_p40' -> 40 (every prunable conv loses 40% of its filters, as the families'
    pipelines' ``uniform_p40`` rows); None for any other name."""
    head, _, pct = preset.partition('uniform_p')
    return int(pct) if not head and pct.isdigit() and 0 < int(pct) < 100 else None


def check_strategy(strategy):
    """Refuse a strategy name that is none of ``baseline``, a seed preset (r578, sensity) or
    ``uniform_pNN``, each with an optional ``@N`` (:func:`parse_strategy`): a misspelt one
    would build no row and time nothing, without a word.  -> the name."""
    from ppdet.core.workspace import did_you_mean
    from ppdet.slim.presets import PRESETS
    preset, _, multiple = str(strategy).partition('@')
    known = ('baseline',) + tuple(PRESETS)
    if (preset in known or uniform_percent(preset) is not None) and \
            (not multiple or (multiple.isdigit() and int(multiple) > 0)):
        return strategy
    raise ValueError('unknown strategy %r%s (strategies: baseline, %s, or uniform_pNN: NN%% of '
                     'every prunable conv; each with an optional @N rounding kept channels to '
                     'multiples of N)' % (strategy, did_you_mean(strategy, YOLO_STRATEGIES +
                                                                 FAMILY_STRATEGIES),
                                          ', '.join(PRESETS)))


class StrategyDoesNotFit(ValueError):
    """A pruning strategy names convs the model does not have (or it has none)."""


def strategy_plan(model, strategy, size):
    """The :class:`~ppdet.slim.prune.PrunePlan` of ``strategy`` for ``model`` (None for
    the baseline): a seed preset (r578, sensity: YOLOv3's yolo_block convs) or
    ``uniform_pNN`` (every declared prunable conv, any family), ``@N`` rounding kept
    channels.  Raises :class:`StrategyDoesNotFit` when it does not fit the model."""
    from ppdet.slim.prune import PrunePlan, prunable_params
    preset, multiple = parse_strategy(strategy)
    if preset == 'baseline':
        return None
    pct = uniform_percent(preset)
    if pct is None:
        try:
            return PrunePlan.from_flags(model, None, preset, input_size=size,
                                        round_channels=multiple)
        except ValueError as e:
            raise StrategyDoesNotFit('%s does not fit %s: %s' % (
                strategy, type(model).__name__, str(e).splitlines()[0]))
    names = list(prunable_params(model))
    if not names:
        raise StrategyDoesNotFit('%s declares no prunable convs' % type(model).__name__)
    return PrunePlan(collections.OrderedDict((n, pct / 100.0) for n in names),
                     input_size=size, round_channels=multiple)


def _build(cfg, strategy, size, seed=0):
    import paddle
    import ppdet.modeling  # noqa: F401  (registers the components)
    from ppdet.core.workspace import create
    from ppdet.slim.prune import prune
    paddle.seed(seed)
    model = create(cfg['architecture'], cfg)
    model.eval()
    plan = strategy_plan(model, strategy, size)
    if plan is not None:
        prune(model, plan)
    model.eval()
    return model


def _gflops(model, size):
    from ppdet.utils.model_stats import count_conv_macs, gflops
    macs = count_conv_macs(model, size)
    return {'gflops': gflops(macs['conv']), 'gflops_all': gflops(macs['conv'] + macs['deformable'])}


def _feeds(cfg, images):
    from ppdet.deploy.preprocess import Preprocessor
    from ppdet.engine.export import preprocess_spec
    pre = Preprocessor({'Preprocess': preprocess_spec(cfg)})
    return [pre([im]) for im in images]


def _captured(model, names, feeds):
    """Run ``model`` on ``feeds`` with forward hooks on the sub-layers ``names``.
    -> (per feed: the model's outputs, as numpy; per feed: {name: [output index or None,
    ...] per call}; {name: [numpy output per call over all feeds]}).  An output index says
    which of the model's outputs the call's output *is* (a layer shared by the levels is
    called once per level)."""
    import paddle
    layers = dict(model.named_sublayers())
    missing = [n for n in names if n not in layers]
    if missing:
        raise ValueError('score_logit_channels() names %s, which %s does not have'
                         % (', '.join(missing), type(model).__name__))
    calls = {n: [] for n in names}
    hooks = [layers[n].register_forward_post_hook(
        lambda layer, inputs, output, n=n: calls[n].append(output)) for n in set(names)]
    outputs, where, values = [], [], {n: [] for n in names}
    try:
        with paddle.no_grad():
            for f in feeds:
                for n in calls:
                    calls[n] = []
                outs = model(paddle.to_tensor(f['image']))
                where.append({n: [next((j for j, o in enumerate(outs) if o is t), None)
                                  for t in calls[n]] for n in calls})
                for n in calls:
                    values[n] += [t.numpy() for t in calls[n]]
                outputs.append([o.numpy() for o in outs])
    finally:
        for h in hooks:
            h.remove()
    return outputs, where, values


def _count_from_outputs(model, outputs, feeds, score_threshold):
    """Mean (box, class) pairs per image above ``score_threshold``, decoded from raw head
    outputs (numpy, one list per feed) by the model's own ``decode``."""
    import paddle
    counts = []
    with paddle.no_grad():
        for outs, f in zip(outputs, feeds):
            _, scores = model.decode([paddle.to_tensor(o) for o in outs],
                                     paddle.to_tensor(f['im_shape']),
                                     paddle.to_tensor(f['scale_factor']))
            counts.append(int((scores.numpy() > score_threshold).sum()))
    return float(np.mean(counts))


def _shifted(outputs, where, shift_channels, offset):
    """The raw outputs with ``offset`` added to the shifted layers' channels."""
    out = []
    for outs, idx in zip(outputs, where):
        outs = list(outs)
        for name, channels in shift_channels.items():
            for j in idx[name]:
                o = outs[j].copy()
                o[:, channels] += offset
                outs[j] = o
        out.append(outs)
    return out


def init_head_like_trained(model, feeds, candidates=500, score_threshold=None,
                           count_feeds=None):
    """Give a random-weight detector's score logits a trained-like output distribution and
    shift them so that ``candidates`` (box, class) pairs per image pass the NMS score
    threshold on ``count_feeds`` (default ``feeds``), for any family declaring
    ``score_logit_channels()``.

    The latency table passes the timed photo as ``count_feeds``: a random backbone's counts
    vary so much between photos (FCOS: a mean of 500 over the calibration photos, 4 on the
    timed one) that only a count set on the timed photo states the NMS load being timed.

    Each declared channel's output over the feeds is rescaled to std ``OBJ_SPREAD`` around 0
    (objectness-like) or ``CLS_SPREAD`` around ``CLS_MEAN`` (class logits: most class
    probabilities small, a few large), by its conv's weights and bias; the box channels a
    family declares (``box_logit_channels()``) likewise, to :data:`BOX_SPREADS`.  Then one
    offset, found by bisection on the decoded scores, goes on the objectness channels (the
    class channels when the family has none): the count grows with it.  Only those output
    convs change.  -> {'objectness_offset', 'target_candidates', 'mean_candidates' (over
    ``feeds``), 'counted_candidates' (over ``count_feeds``), 'box_channels' (how many box
    channels were given a trained-like spread)}.
    """
    from ppdet.modeling.architectures.meta_arch import NotDeclared, declared
    score_threshold = _nms_of(model).score_threshold if score_threshold is None \
        else score_threshold
    groups = declared(model, 'score_logit_channels')
    layers = dict(model.named_sublayers())
    try:
        boxes = declared(model, 'box_logit_channels')
    except NotDeclared:
        boxes = []
    unknown = sorted({kind for _, kind, _ in boxes} - set(BOX_SPREADS))
    if unknown:
        raise ValueError('%s.box_logit_channels() names kinds %s; known: %s'
                         % (type(model).__name__, unknown, sorted(BOX_SPREADS)))
    for what, decl in (('score', groups), ('box', boxes)):
        for name, _, _ in decl:
            if layers[name].bias is None:
                raise ValueError('%s: %s conv %s has no bias to shift'
                                 % (type(model).__name__, what, name))
    _, _, values = _captured(model, sorted({g[0] for g in groups + boxes}), feeds)
    for name, kind, channels in groups:
        mean, spread = (0.0, OBJ_SPREAD) if kind == 'objectness' else (CLS_MEAN, CLS_SPREAD)
        _respread(layers[name], channels, values[name], mean, spread)
    for name, kind, channels in boxes:
        _respread(layers[name], channels, values[name], *BOX_SPREADS[kind])
    kinds = {g[1] for g in groups}
    shift_kind = 'objectness' if 'objectness' in kinds else 'class'
    shift = {}
    for name, kind, channels in groups:
        if kind == shift_kind:
            shift.setdefault(name, []).extend(channels)
    count_feeds = feeds if count_feeds is None else count_feeds
    outputs, where, _ = _captured(model, sorted(shift), count_feeds)
    if any(j is None for idx in where for js in idx.values() for j in js):
        raise ValueError('%s: the score convs\' outputs must be the model\'s own outputs '
                         '(forward() returning them unchanged)' % type(model).__name__)
    lo, hi = -30.0, 30.0
    for _ in range(40):   # the count grows with the offset
        mid = 0.5 * (lo + hi)
        count = _count_from_outputs(model, _shifted(outputs, where, shift, mid),
                                    count_feeds, score_threshold)
        if count < candidates:
            lo = mid
        else:
            hi = mid
    for name, channels in shift.items():
        b = layers[name].bias.numpy().copy()
        b[channels] += hi
        layers[name].bias.set_value(b)
    return {'objectness_offset': float(hi), 'target_candidates': int(candidates),
            'mean_candidates': candidates_above(model, feeds, score_threshold),
            'counted_candidates': candidates_above(model, count_feeds, score_threshold),
            'box_channels': sum(len(c) for _, _, c in boxes)}


def channel_values(values, channels):
    """A conv's outputs (``values``: [N, C, H, W] arrays, one per call) -> one row per
    channel of ``channels``, every value it took."""
    return np.concatenate([v[:, channels].transpose(1, 0, 2, 3).reshape(len(channels), -1)
                           for v in values], axis=1)


def _respread(conv, channels, values, mean, spread):
    """Rescale ``conv``'s output ``channels`` (its outputs over the feeds: ``values``, one
    array per call) to ``mean`` and std ``spread``, by its weights and bias."""
    z = channel_values(values, channels)
    mu, sd = z.mean(axis=1), z.std(axis=1) + 1e-6
    scale = spread / sd
    w, b = conv.weight.numpy().copy(), conv.bias.numpy().copy()
    w[channels] *= scale.reshape((-1,) + (1,) * (w.ndim - 1))
    b[channels] = (b[channels] - mu) * scale + mean
    conv.weight.set_value(w)
    conv.bias.set_value(b)


def _nms_of(model):
    """The model's NMS component (YOLOv3 keeps it in its post-process)."""
    nms = getattr(model, 'nms', None)
    if nms is None:
        nms = getattr(getattr(model, 'post_process_op', None), 'nms', None)
    if nms is None:
        raise ValueError('%s has no NMS component to time' % type(model).__name__)
    return nms


def candidates_above(model, feeds, score_threshold=None):
    """Mean number of (box, class) pairs per image whose score passes the NMS threshold,
    through the model's own decode (before any top-k bound)."""
    import paddle
    score_threshold = _nms_of(model).score_threshold if score_threshold is None \
        else score_threshold
    counts = []
    with paddle.no_grad():
        for f in feeds:
            _, scores = model.decode(model(paddle.to_tensor(f['image'])),
                                     paddle.to_tensor(f['im_shape']),
                                     paddle.to_tensor(f['scale_factor']))
            counts.append(int((scores.numpy() > score_threshold).sum()))
    return float(np.mean(counts))


# -- build -------------------------------------------------------------------------------
def _row_name(config_name, size, strategy, int8, fused, int8_outputs=False):
    return '%s_%d_%s%s%s%s' % (config_name, size, strategy, '_int8' if int8 else '',
                               '_outputs' if int8_outputs else '', '' if fused else '_unfused')


def _save_decoded(model, feed, path):
    """The decoded boxes [1,N,4] and scores [1,C,N] of one pre-processed ``feed``: what
    enters NMS."""
    import paddle
    with paddle.no_grad():
        boxes, scores = model.decode(model(paddle.to_tensor(feed['image'])),
                                     paddle.to_tensor(feed['im_shape']),
                                     paddle.to_tensor(feed['scale_factor']))
    np.savez(path, boxes=boxes.numpy(), scores=scores.numpy())
    return path


def _nms_settings(model):
    nms = _nms_of(model)
    return {k: getattr(nms, k) for k in ('score_threshold', 'nms_top_k', 'keep_top_k',
                                         'nms_threshold', 'normalized', 'nms_eta',
                                         'background_label', 'pre_nms_top_k')}


def build_rows(work_dir, images, grid=QUICK_GRID, strategies=STRATEGIES, candidates=500,
               unfused=(('baseline', False), ('r578', True)), ptq_algo='abs_max',
               configs=FULL_SIZE_CONFIGS, overrides=(), onnx=True, progress=print,
               timing_image=None, int8_outputs=(), int8_residual_adds=False):
    """Build, export and quantize every row under ``work_dir``; -> the manifest (also
    written to ``work_dir/manifest.json``).  A row already in the manifest is kept.

    ``images``: RGB uint8 photos: the head is calibrated and PTQ calibrated on them.
    ``unfused``: (strategy, int8) rows exported a second time without fused pre-processing.
    ``timing_image`` (default ``images[0]``): its decoded boxes and scores are saved per
    model (``decoded.npz``; for the baseline also ``decoded_random_head.npz``, before the
    head is set up) so that :func:`time_rows` can time the NMS on its own.
    ``int8_outputs``: strategies that also get an int8 row with the output convs quantized
    too (``..._int8_outputs``; by default PTQ keeps them fp32 for accuracy): what those
    fp32 convs cost in time.  ``int8_residual_adds``: every int8 row quantizes the residual
    adds oneDNN cannot fold into a conv too (:mod:`ppdet.slim.residual_adds`); a work_dir
    holds int8 rows of one kind only.
    """
    from ppdet.engine.export import export_model
    path = os.path.join(work_dir, 'manifest.json')
    manifest = read_json(path) if os.path.isfile(path) else {'rows': {}}
    adds = {'residual_adds': True} if int8_residual_adds else {}
    mixed = [n for n, r in manifest['rows'].items()
             if r['int8'] and bool(r.get('residual_adds')) != bool(int8_residual_adds)]
    if mixed:
        raise ValueError('%s holds int8 rows built %s the residual adds quantized (%s): give '
                         'another work_dir' % (work_dir, 'without' if int8_residual_adds
                                               else 'with', mixed[0]))
    for config_name, size in grid:
        cfg = load_full_size(configs[config_name], size, overrides)
        feeds = _feeds(cfg, images)
        for strategy in strategies:
            want = [(False, True), (True, True)] + [
                (int8, False) for s, int8 in unfused if s == strategy]
            outputs_row = _row_name(config_name, size, strategy, True, True, True)
            if all(_row_name(config_name, size, strategy, i, f) in manifest['rows']
                   for i, f in want):
                if strategy in int8_outputs and outputs_row not in manifest['rows']:
                    # the fp32 export is there: quantize it, no rebuild
                    name = _row_name(config_name, size, strategy, False, True)
                    manifest['rows'][outputs_row] = _quantize_row(
                        manifest['rows'][name], images, work_dir, outputs_row, ptq_algo,
                        dict(adds, int8_outputs=True))
                    write_json(path, manifest)
                    progress('%s: quantized from %s' % (outputs_row, name))
                continue
            tic = time.time()
            try:
                model = _build(cfg, strategy, size)
            except StrategyDoesNotFit as e:
                progress('%s %d %s: skipped (%s)' % (config_name, size, strategy, e))
                continue
            labels = ['class%d' % i for i in range(model.num_classes)]
            timing = images[0] if timing_image is None else timing_image
            os.makedirs(work_dir, exist_ok=True)
            stem = os.path.join(work_dir, '%s_%d_%s' % (config_name, size, strategy))
            timed_feed = _feeds(cfg, [timing])
            random_npz = _save_decoded(model, timed_feed[0], stem + '_decoded_random_head.npz')
            head = init_head_like_trained(model, feeds, candidates, count_feeds=timed_feed)
            flops = _gflops(model, size)
            trained_npz = _save_decoded(model, timed_feed[0], stem + '_decoded.npz')
            for fused in sorted({f for _, f in want}, reverse=True):
                name = _row_name(config_name, size, strategy, False, fused)
                out = os.path.join(work_dir, name)
                export_model(model, cfg, out, labels, fuse_preprocess=fused,
                             meta={'benchmark_head': head, 'strategy': strategy})
                base = {'config': config_name, 'input_size': size, 'strategy': strategy,
                        'fuse_preprocess': fused, 'head': head, 'parent': None,
                        'decoded': trained_npz, 'decoded_random_head': random_npz,
                        'nms': _nms_settings(model)}
                base.update(flops)
                if (False, fused) in want:
                    manifest['rows'][name] = dict(base, int8=False, dir=out)
                if onnx and (False, fused) in want:
                    from ppdet.deploy.onnx import convert_to_onnx
                    try:
                        convert_to_onnx(out)
                    except (ValueError, RuntimeError) as e:   # e.g. DCN: no ONNX here
                        manifest['rows'][name]['no_onnx'] = str(e).splitlines()[0][:300]
                        progress('%s: no onnxruntime row (%s)' % (name, e))
                int8_rows = []
                if (True, fused) in want:
                    int8_rows.append((_row_name(config_name, size, strategy, True, fused),
                                      dict(adds)))
                if fused and strategy in int8_outputs:
                    int8_rows.append((outputs_row, dict(adds, int8_outputs=True)))
                for qname, extra in int8_rows:
                    manifest['rows'][qname] = _quantize_row(
                        dict(base, int8=False, dir=out), images, work_dir, qname, ptq_algo,
                        extra)
            write_json(path, manifest)
            progress('%s %d %s: built in %.0f s, %.0f candidates on the timed photo, %.0f per '
                     'calibration photo (offset %.2f)'
                     % (config_name, size, strategy, time.time() - tic,
                        head['counted_candidates'], head['mean_candidates'],
                        head['objectness_offset']))
    if onnx:
        add_onnx_int8(manifest, images, progress)
        write_json(path, manifest)
    return manifest


def _quantize_row(row, images, work_dir, qname, ptq_algo, extra):
    """``ptq_algo`` PTQ of the fp32 ``row``'s export, calibrated on ``images`` -> the int8
    row (``extra`` {'int8_outputs': True}: the output convs are quantized too;
    {'residual_adds': True}: the residual adds too)."""
    from ppdet.slim.quant import quantize_post
    qout = os.path.join(work_dir, qname)
    quantize_post(row['dir'], list(images), qout, algo=ptq_algo, batch_nums=len(images),
                  calibration_source='sample photos',
                  quantize_float_only=bool(extra.get('int8_outputs')),
                  quantize_residual_adds=bool(extra.get('residual_adds')))
    parent = os.path.basename(os.path.normpath(row['dir']))
    fp32_only = ('onnx_int8', 'no_onnx')
    return dict({k: v for k, v in row.items() if k not in fp32_only}, int8=True, dir=qout,
                parent=parent, **extra)


def add_onnx_int8(manifest, images, progress=print):
    """Give every fused fp32 row with an ONNX export an onnxruntime int8 model (QDQ,
    :func:`~ppdet.deploy.onnx.quantize_onnx`, calibrated on ``images``): its path goes to
    the row's ``onnx_int8`` (rows built before this existed get one too)."""
    from ppdet.deploy import Preprocessor, load_infer_cfg
    from ppdet.deploy.onnx import quantize_onnx
    for name, row in manifest['rows'].items():
        if row['int8'] or not row['fuse_preprocess'] or row.get('no_onnx') or \
                (row.get('onnx_int8') and os.path.isfile(row['onnx_int8'])):
            continue
        pre = Preprocessor(load_infer_cfg(row['dir']))
        row['onnx_int8'] = quantize_onnx(row['dir'], iter([pre([im]) for im in images]))
        progress('%s: onnxruntime int8 model %s' % (name, row['onnx_int8']))


# -- timing ------------------------------------------------------------------------------
def time_nms(decoded_npz, settings, rounds=20, pre_nms_top_k=None, threads=1):
    """Median ms of the exported post-process's NMS (the candidate bound, then
    ``multiclass_nms3``) on the saved decoded boxes / scores, as the exported graph runs it:
    the two saved as a program of their own and timed through Paddle Inference with the
    models' CPU settings (:func:`ppdet.deploy.predictors.paddle_cpu_config`, ``threads``),
    inputs fed once.  Eager (dygraph) timing overstated it: without the bound, at 608, 13.7-14.4
    ms eager against 4.5-8.1 ms in the graph (its score transpose runs as a oneDNN op there).
    The bound's maximum runs on Paddle's kernel, as the rows run it
    (:mod:`ppdet.deploy.onednn_reduce`).  ``pre_nms_top_k`` overrides the bound (0: off).
    -> (median_ms, pairs above threshold)."""
    import tempfile
    from ppdet.deploy.onednn_group_norm import program_for_onednn
    from ppdet.deploy.pass_log import create_quietly
    from ppdet.deploy.predictors import paddle_cpu_config, run_paddle
    from ppdet.modeling.post_process import MultiClassNMS
    kw = dict(settings)
    if pre_nms_top_k is not None:
        kw['pre_nms_top_k'] = pre_nms_top_k
    d = np.load(decoded_npz)
    # the rows layout [B,N,C] yolo_box gives the exported graph (MultiClassNMS.nms_rows)
    feeds = [np.ascontiguousarray(d['boxes'], np.float32),
             np.ascontiguousarray(d['scores'].transpose(0, 2, 1), np.float32)]
    with tempfile.TemporaryDirectory() as tmp:
        model_file = _save_nms_program(MultiClassNMS(**kw), [f.shape for f in feeds], tmp)
        # the bound's best-class maximum as PaddlePredictor runs it (the copy lies in tmp2)
        model_file, tmp2, _ = program_for_onednn(model_file, group_norm=False)
        predictor = create_quietly(paddle_cpu_config(model_file, cpu_threads=threads))
        if tmp2:
            shutil.rmtree(tmp2, ignore_errors=True)
    run_paddle(predictor, dict(zip(predictor.get_input_names(), feeds)))   # feeds them once
    samples = []
    for _ in range(int(rounds) + 2):
        t0 = time.perf_counter()
        predictor.run()
        samples.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(samples[2:])), pairs_above(decoded_npz, kw['score_threshold'])


def _save_nms_program(nms, shapes, out_dir):
    """``nms.nms_rows`` as a parameterless inference program (inputs ``boxes`` [B,N,4] and
    ``rows`` [B,N,C] of ``shapes``) -> its model file."""
    import paddle
    from paddle.static import InputSpec
    from ppdet.utils.static_graph import forget_failed_traces

    class NMSRows(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.nms = nms        # an attribute: dy2static does not resolve closures

        def forward(self, boxes, rows):
            return self.nms.nms_rows(boxes, rows)

    specs = [InputSpec(list(s), 'float32', n) for s, n in zip(shapes, ('boxes', 'rows'))]
    prefix = os.path.join(out_dir, 'nms')
    forget_failed_traces()
    paddle.jit.save(paddle.jit.to_static(NMSRows(), input_spec=specs), prefix)
    return prefix + '.pdmodel'


def pairs_above(decoded_npz, score_threshold):
    """(box, class) pairs of a saved decode (:func:`_save_decoded`) scoring above
    ``score_threshold``: the load entering NMS."""
    return int((np.load(decoded_npz)['scores'] > score_threshold).sum())


def _timed_candidates(row):
    """The pairs above the NMS threshold on the timed photo, from the fp32 model's saved
    decode (``None`` for rows built without one)."""
    path = row.get('decoded')
    if not path or not os.path.isfile(path):
        return None
    return pairs_above(path, row['nms']['score_threshold'])


RUNTIME_LABELS = {'paddle': 'Paddle oneDNN fp32', 'onnx': 'onnxruntime fp32',
                  'onnx_int8': 'onnxruntime int8 (QDQ)',
                  'paddle_group_norm': 'Paddle oneDNN fp32, group_norm kernel',
                  'paddle_bf16': 'Paddle oneDNN bf16',
                  'paddle_onednn_reduce': 'Paddle oneDNN fp32, reduce_max on oneDNN'}
# the twin of 'paddle' without the GroupNorm rewrite (ppdet.deploy.onednn_group_norm): only
# for rows whose program has a group_norm
GROUP_NORM_TWIN = 'paddle_group_norm'
# an fp32 row run with enable_mkldnn_bfloat16 (CPUs with native bf16 only)
BF16 = 'paddle_bf16'
# the twin of 'paddle' with the innermost maxima left on oneDNN (ppdet.deploy.onednn_reduce):
# only for rows whose program has a reduce_max
REDUCE_TWIN = 'paddle_onednn_reduce'
TWINS = {GROUP_NORM_TWIN: ', group_norm kernel', REDUCE_TWIN: ', reduce_max on oneDNN'}


# what ``time_rows`` times: CPU runtimes only
TIMED_RUNTIMES = ('paddle', 'onnx', 'onnx_int8', GROUP_NORM_TWIN, BF16, REDUCE_TWIN)


def check_runtimes(runtimes):
    """Refuse a runtime :func:`time_rows` does not time (it would be left out without a word),
    naming the close ones; a GPU one (TensorRT, ``paddle_gpu``) gets how to time the exported
    rows on a GPU instead."""
    from ppdet.utils.cli import check_choices
    for rt in runtimes:
        if rt not in TIMED_RUNTIMES and (rt.startswith('trt') or 'gpu' in rt):
            raise ValueError(
                'runtime %r: the full-size table times CPU runtimes only (%s).  On a GPU '
                'machine, build the rows (--stage build) and time each exported row with '
                'python deploy/python/infer.py --model_dir WORK_DIR/ROW --image_file a.jpg '
                '--device GPU --run_mode paddle|trt_fp16|trt_int8 --run_benchmark'
                % (rt, ', '.join(TIMED_RUNTIMES)))
    check_choices('--runtimes', runtimes, TIMED_RUNTIMES)


def _runtime_label(cell):
    if cell['int8'] and (cell['runtime'] == 'paddle' or cell['runtime'] in TWINS):
        return 'Paddle oneDNN int8' + TWINS.get(cell['runtime'], '')
    return RUNTIME_LABELS[cell['runtime']]


def runtimes_for(row, runtimes):
    """The runtimes of ``runtimes`` a manifest row is timed on (int8 rows: Paddle only)."""
    from ppdet.deploy.onednn_group_norm import has_group_norm
    from ppdet.deploy.onednn_reduce import has_reduce_max
    model_file = os.path.join(row['dir'], 'model.pdmodel')
    has = {GROUP_NORM_TWIN: has_group_norm(model_file), REDUCE_TWIN: has_reduce_max(model_file)}
    paddle = [rt for rt in runtimes if rt == 'paddle' or (rt in TWINS and has[rt])]
    if row['int8']:
        return paddle
    return paddle + [rt for rt in runtimes if rt == BF16
                     or (rt == 'onnx' and not row.get('no_onnx'))
                     or (rt == 'onnx_int8' and row.get('onnx_int8'))]


def _detector(row, runtime, threads):
    from ppdet.deploy import Detector
    if runtime == 'onnx_int8':
        return Detector(row['dir'], 'onnx', cpu_threads=threads, onnx_file=row['onnx_int8'])
    if runtime == GROUP_NORM_TWIN:
        return Detector(row['dir'], 'paddle', cpu_threads=threads, onednn_group_norm=False)
    if runtime == REDUCE_TWIN:
        return Detector(row['dir'], 'paddle', cpu_threads=threads, onednn_reduce_max=False)
    if runtime == BF16:
        return Detector(row['dir'], 'paddle', cpu_threads=threads, enable_mkldnn_bfloat16=True)
    return Detector(row['dir'], runtime, cpu_threads=threads)


# memory to keep free while loading a group's configurations (MiB); a chunk closes when
# the next row's estimate would eat into it
MEMORY_RESERVE_MB = 2048


def is_anchor(row, runtime):
    """The configuration every speed-up of a group is against: baseline, Paddle fp32, fused
    pre-processing."""
    return (runtime == 'paddle' and not row['int8'] and row['strategy'] == 'baseline' and
            row['fuse_preprocess'])


def load_cell(manifest, name, rt, t, image, warmup):
    """Row ``name`` as a Detector on runtime ``rt`` with ``t`` threads, warmed up on
    ``image``; -> (detector, its table cell without timings)."""
    from ppdet.deploy.memory import rss_mb
    row = manifest['rows'][name]
    before = rss_mb()
    det = _detector(row, rt, t)
    det.warm_up([image], warmup)
    return det, {'row': name, 'runtime': rt, 'strategy': row['strategy'],
                 'int8': row['int8'] or rt == 'onnx_int8',
                 'fuse_preprocess': row['fuse_preprocess'],
                 'int8_outputs': bool(row.get('int8_outputs')),
                 'residual_adds': bool(row.get('residual_adds')),
                 'mean_candidates': row['head']['mean_candidates'],
                 'timed_candidates': _timed_candidates(row),
                 'nms': row.get('nms'),
                 'gflops': row.get('gflops'),
                 'rss_added_mb': rss_mb() - before}


def _fits(loaded_mb, largest_mb, n_next, reserve_mb, available_mb):
    """Whether a row of ``n_next`` more configurations may join the chunk in memory: what
    the machine has left must cover them (1.5x the largest configuration loaded so far
    each), half again of what is loaded (the first timed rounds grow each configuration's
    memory by ~30%, measured on FCOS at 800) and ``reserve_mb``.  Unknown memory: yes."""
    if available_mb is None:
        return True
    return available_mb - 0.5 * loaded_mb - 1.5 * largest_mb * n_next >= reserve_mb


def _time_chunk(manifest, pending, anchor, t, image, rounds, warmup, pause_s, check_images,
                progress, label, reserve_mb, largest_mb):
    """Load rows off the front of ``pending`` (a list of (row name, runtimes), consumed)
    while they fit in memory (:func:`_fits`; the first always loads), plus the group's
    ``anchor`` (row name, runtime) first when given, time them interleaved, close them.

    -> (cells of the rows taken, the anchor's median in this run or None, predictions on
    ``check_images`` per key, the largest configuration's MiB)."""
    from ppdet.deploy.benchmark import interleaved_latency, stage_split
    from ppdet.deploy.memory import available_mb
    dets, cells, keys = collections.OrderedDict(), collections.OrderedDict(), []

    def load(name, rt):
        key = '%s/%s' % (name, rt)
        dets[key], cells[key] = load_cell(manifest, name, rt, t, image, warmup)
        return cells[key]['rss_added_mb']

    if anchor:
        largest_mb = max(largest_mb, load(*anchor))
    while pending:
        name, rts = pending[0]
        loaded = sum(c['rss_added_mb'] for c in cells.values())
        if keys and not _fits(loaded, largest_mb, len(rts), reserve_mb, available_mb()):
            break
        pending.pop(0)
        for rt in rts:
            largest_mb = max(largest_mb, load(name, rt))
            keys.append('%s/%s' % (name, rt))
    progress('%s: timing %d configurations, %d rounds' % (label, len(dets), rounds))
    base = next((k for k, c in cells.items()
                 if is_anchor(manifest['rows'][c['row']], c['runtime'])), None)
    res = interleaved_latency(
        collections.OrderedDict((k, (lambda d=d: d.predict([image]))) for k, d in dets.items()),
        repeats=rounds, warmup=0, pause_s=pause_s, baseline=base)
    preds, anchor_ms = {}, None
    for key, det in dets.items():
        cell = cells[key]
        cell.update(median_ms=res['median_ms'][key], p90_ms=res['p90_ms'][key])
        if base is not None:
            cell['ratio_interval'] = res['ratio_interval'][key]
        cell.update(stage_split(det.timer.summary()))
        cell['detections'] = int(len(det.predict([image])[0]))
        if is_anchor(manifest['rows'][cell['row']], cell['runtime']):
            anchor_ms = cell['median_ms']
        if check_images:
            # one photo at a time, at the timed batch size: a batch of six R50 passes at 800
            # added 1.6 GB per configuration that closing it did not give back (measured;
            # sixteen of them were what the OOM killer stopped at 24 GB)
            preds[key] = [det.predict([im])[0] for im in check_images]
        det.close()
    return (collections.OrderedDict((k, cells[k]) for k in keys), anchor_ms, preds,
            largest_mb)


def matched_share(reference, runs):
    """Detections matched between two runs over the same images (lists of per-image [k, 6]
    rows), as a share of the larger count per image."""
    from ppdet.deploy.compare import match_detections
    m = [match_detections(a, b) for a, b in zip(reference, runs)]
    return sum(x['matched'] for x in m) / float(max(1, sum(max(x['n_a'], x['n_b'])
                                                           for x in m)))


def zero_area_share(runs):
    """The share of the detections of ``runs`` (per-image [k, 6] rows) whose box has no
    area.  Matching is by IoU, so a parent whose boxes are points matches nothing, not even
    itself: the random-weight YOLOv3-ResNet34 baseline at 608 gave 306 of 320 such boxes and
    0% int8 agreement, where a trained ResNet34 lost no AP in int8 (2026-12-06)."""
    from ppdet.utils.visualizer import shown_rows
    total = sum(len(r) for r in runs)
    shown = sum(len(shown_rows(r, -np.inf)) for r in runs)   # Detector rows have a class
    return (total - shown) / float(total) if total else 0.0


def _agreement_cell(cell):
    """The table's agreement column: the matched share, and where most of the parent's boxes
    have no area, that share (it cannot say anything then)."""
    if 'agreement' not in cell:
        return '-'
    text = '%.0f%%' % (100 * cell['agreement'])
    if cell.get('parent_zero_area', 0) >= 0.5:
        text += ' (parent: %.0f%% zero-area boxes)' % (100 * cell['parent_zero_area'])
    return text


def ab_detectors(detectors, images, timed_image, rounds, warmup=2):
    """A/B of ``detectors`` (name -> :class:`~ppdet.deploy.Detector`, the baseline first) in
    one process: each one's detections on ``images``, then ``rounds`` rounds timed interleaved
    on ``timed_image``.  -> [(name, median ms, speed-up over the baseline, share of the
    baseline's detections matched or None for the baseline)], and the detections by name."""
    from ppdet.deploy.benchmark import interleaved_latency
    names = list(detectors)
    preds = {}
    for name, det in detectors.items():
        preds[name] = [det.predict([im])[0] for im in images]
        det.warm_up([timed_image], warmup)
    res = interleaved_latency(collections.OrderedDict(
        (n, (lambda d=d: d.predict([timed_image]))) for n, d in detectors.items()),
        repeats=rounds, warmup=0, pause_s=0.05)
    ms, base = res['median_ms'], names[0]
    return [(n, ms[n], ms[base] / ms[n],
             None if n == base else matched_share(preds[base], preds[n])) for n in names], preds


def format_ab(rows, width=24):
    """Lines of :func:`ab_detectors`' rows: name, median ms, speed-up, agreement."""
    return ['%-*s %8.1f ms  %5.2fx  agreement with %s %s' % (
        width, n, m, r, rows[0][0], '-' if a is None else '%.0f%%' % (100 * a))
        for n, m, r, a in rows]


def time_rows(manifest, image, threads=(1,), rounds=10, warmup=3,
              runtimes=('paddle', 'onnx', 'onnx_int8'),
              check_images=None, pause_s=None, progress=print,
              memory_reserve_mb=MEMORY_RESERVE_MB):
    """Time every manifest row end to end, per (config, size, threads) group interleaved.

    -> {'settings', 'cpu', 'groups': [{config, input_size, threads, chunks, cells: {key: cell}}]}
    where a cell has the end-to-end ``median_ms`` / ``p90_ms`` over the rounds, the stage
    means and shares (``preprocess_ms`` ...), ``ratio`` (speed-up vs the group's baseline
    Paddle fp32 row), ``rss_added_mb`` (VmRSS added by loading + warm-up: every runtime is in
    this one process, so its peak would be the sum), ``detections`` (after NMS) and, for int8
    and bf16, ``agreement`` with the fp32 parent on ``check_images`` (onnxruntime int8: with
    the same row's onnxruntime fp32; bf16: with the same row on Paddle fp32).  ``pause_s``:
    the sleep before each timed run (default :func:`~ppdet.deploy.benchmark.idle_pause_s` of
    the group's thread count).

    A group whose configurations do not fit in memory at once (e.g. R50 models at 800 with
    every runtime: ~0.7 GB each) is timed in chunks (:func:`_time_chunk`); each later chunk
    times the baseline fp32 row again beside its rows, and their speed-ups are against that
    interleaved run of it.  ``cell['chunk']`` says which chunk timed a cell.
    """
    from ppdet.deploy.benchmark import idle_pause_s
    check_runtimes(runtimes)
    if BF16 in runtimes:
        from ppdet.deploy.predictors import require_bf16
        require_bf16()      # before hours of timing, not at the first bf16 row
    groups = collections.OrderedDict()
    for name, row in manifest['rows'].items():
        groups.setdefault((row['config'], row['input_size']), []).append(name)
    pauses = {t: idle_pause_s(t) if pause_s is None else pause_s for t in threads}
    out = {'settings': {'rounds': int(rounds), 'warmup': int(warmup), 'threads': list(threads),
                        'runtimes': list(runtimes), 'batch_size': 1,
                        'pause_s': {str(t): p for t, p in pauses.items()},
                        'image_shape': list(image.shape),
                        'omp_num_threads': os.environ.get('OMP_NUM_THREADS')},
           'cpu': cpu_flags(), 'date': time.strftime('%Y-%m-%d %H:%M %Z'),
           'load_avg_start': list(os.getloadavg()), 'groups': []}
    for (config_name, size), names in groups.items():
        anchor = next(((n, 'paddle') for n in names if is_anchor(manifest['rows'][n], 'paddle')
                       and 'paddle' in runtimes_for(manifest['rows'][n], runtimes)), None)
        for t in threads:
            cells, preds, largest = collections.OrderedDict(), {}, 0.0
            pending = [(n, runtimes_for(manifest['rows'][n], runtimes)) for n in names]
            pending = sorted([(n, rts) for n, rts in pending if rts],
                             key=lambda nr: not anchor or nr[0] != anchor[0])
            index = 0
            while pending:
                label = '%s %d, %d thread(s)%s' % (config_name, size, t,
                                                   ', chunk %d' % (index + 1) if index else '')
                got, anchor_ms, got_preds, largest = _time_chunk(
                    manifest, pending, anchor if index else None, t, image, rounds, warmup,
                    pauses[t], check_images, progress, label, memory_reserve_mb, largest)
                for cell in got.values():
                    cell['chunk'] = index
                    cell['ratio'] = anchor_ms / cell['median_ms'] if anchor_ms else None
                cells.update(got)
                preds.update(got_preds)
                index += 1
            for key, cell in cells.items():
                row = manifest['rows'][cell['row']]
                if (cell['int8'] or cell['runtime'] == BF16) and check_images:
                    parent = ('%s/onnx' % cell['row'] if cell['runtime'] == 'onnx_int8' else
                              '%s/paddle' % cell['row'] if cell['runtime'] == BF16
                              else '%s/%s' % (row['parent'], cell['runtime']))
                    if parent in preds:
                        cell['agreement'] = matched_share(preds[parent], preds[key])
                        cell['parent_zero_area'] = zero_area_share(preds[parent])
            nms = _nms_group(manifest, names, t, rounds)
            for cell in cells.values():
                row = manifest['rows'][cell['row']]
                key = row['parent'] or cell['row']
                if key in nms:
                    cell['nms_ms'] = nms[key]['bounded_ms']
                    cell['nms_share'] = cell['nms_ms'] / cell['end_to_end_ms']
            out['groups'].append({'config': config_name, 'input_size': size, 'threads': t,
                                  'chunks': index, 'cells': cells, 'nms': nms})
    out['load_avg_end'] = list(os.getloadavg())
    return out


def _nms_group(manifest, names, threads, rounds):
    """NMS alone per fp32 row of a group, trained-like head and (baseline) random head,
    with and without the candidate bound."""
    out = collections.OrderedDict()
    for name in names:
        row = manifest['rows'][name]
        if row['int8'] or not row['fuse_preprocess'] or 'decoded' not in row:
            continue
        cell = {}
        cell['bounded_ms'], cell['candidates'] = time_nms(
            row['decoded'], row['nms'], rounds, threads=threads)
        cell['unbounded_ms'], _ = time_nms(
            row['decoded'], row['nms'], rounds, pre_nms_top_k=0, threads=threads)
        if row['strategy'] == 'baseline':
            few = max(3, rounds // 4)
            cell['random_head_bounded_ms'], cell['random_head_candidates'] = time_nms(
                row['decoded_random_head'], row['nms'], few, threads=threads)
            cell['random_head_unbounded_ms'], _ = time_nms(
                row['decoded_random_head'], row['nms'], few, pre_nms_top_k=0, threads=threads)
        out[name] = cell
    return out


def _pauses(pause_s):
    """The settings' sleep(s) before each timed run, as a phrase of the table's header."""
    if isinstance(pause_s, dict):
        if pause_s and not any(pause_s.values()):
            return ', no sleep between runs'
        parts = ['%s at %s thread%s' % ('%g s' % v if v else 'none', t, '' if t == '1' else 's')
                 for t, v in sorted(pause_s.items())]
        return ', a sleep before each run of %s' % ', '.join(parts) if parts else ''
    return ', a %g s sleep before each run' % pause_s if pause_s else ''


def _nms_line(cells):
    """The NMS settings the group's models were exported with (a row's ``nms``)."""
    nms = next((c['nms'] for c in cells if c.get('nms')), None)
    if not nms:
        return 'NMS settings not recorded.'
    return ('NMS score threshold %g, at most %s (box, class) pairs into NMS, %d kept per image.'
            % (nms['score_threshold'], nms.get('pre_nms_top_k') or 'all', nms['keep_top_k']))


def _speedup_cell(cell):
    if not cell['ratio']:
        return '-'
    low_high = cell.get('ratio_interval')   # results written before it was recorded lack it
    if not low_high or cell['ratio'] == 1.0:
        return '%.2fx' % cell['ratio']
    return '%.2fx (%.2f–%.2f)' % (cell['ratio'], low_high[0], low_high[1])


def format_table(result, note=''):
    """Markdown: CPU and load first, then one table per (config, size, threads)."""
    cpu = result['cpu']
    lines = ['# Full-size latency (end to end: preprocess + inference + postprocess)', '',
             'CPU: %s (%s logical CPUs)  ' % (cpu['summary'], cpu['cpu_count']),
             'CPU flags: `%s`  ' % cpu['flags'],
             'Heap in huge pages: %s  ' % cpu.get('huge_pages', 'not recorded'),
             'Date: %s; load average at start %s, at end %s; OMP_NUM_THREADS=%s; %d rounds '
             'interleaved after %d warm-up runs%s, batch 1, one %dx%d photo.' % (
                 result['date'], '/'.join('%.1f' % x for x in result['load_avg_start']),
                 '/'.join('%.1f' % x for x in result['load_avg_end']),
                 result['settings']['omp_num_threads'], result['settings']['rounds'],
                 result['settings']['warmup'], _pauses(result['settings'].get('pause_s')),
                 result['settings']['image_shape'][1], result['settings']['image_shape'][0])]
    lines += ['', 'Models: random weights with a trained-like head (--candidates (box, class) pairs '
              'per image above the NMS score threshold; column "candidates": on the timed '
              'photo (the fp32 model\'s decode) / the mean over the calibration photos; models '
              'built since 2026-12-03 set the count on the timed photo, older ones on the '
              'calibration photos\' mean; each table names its threshold; models built since '
              '2026-12-06 07:15 UTC (775ce3b) also give the box outputs a trained-like spread, '
              'before which a deep random backbone\'s boxes were points: see the agreement '
              'column), '
              'NMS bounded to 1000 pairs (pre_nms_top_k) inside the graph, so "infer" includes '
              'decode and NMS and "post" is only splitting the output; "pre" fused = the graph '
              'normalises (Python resizes uint8), Python = the unfused export.  r578@N: r578 '
              'with kept channels rounded down to multiples of N; uniform_pNN: NN% of the '
              'filters of every prunable conv the family declares (its pipelines\' uniform '
              'plan).  int8 = abs_max PTQ, oneDNN '
              'int8 kernels; agreement = detections matched to the fp32 parent on six photos.  '
              'bf16 = the fp32 model run with enable_mkldnn_bfloat16 (oneDNN bf16 kernels, a '
              'CPU with AVX512-BF16 or AMX-BF16); its agreement is with the same model in fp32.  '
              'RSS added: VmRSS growth on loading + warm-up in this one process (a rough '
              'per-runtime memory figure).  onnxruntime int8 = static QDQ quantization of the '
              'fp32 ONNX export (per-channel int8 weights with reduce_range, uint8 '
              'activations, the same six photos); its agreement is with onnxruntime fp32.  '
              'Speed-up: the baseline fp32 row\'s median over this row\'s; in brackets a 95% '
              'bootstrap interval of the median of the per-round ratios (each round times '
              'every row once, seconds apart, so drift between rounds cancels).  NMS alone: '
              'the candidate bound + multiclass_nms3 on the fp32 parent\'s decode of the timed '
              'photo, as a program of their own through Paddle Inference (the rows\' CPU '
              'settings); its share is of the row\'s end-to-end median.']
    if any(c['runtime'] == GROUP_NORM_TWIN for g in result['groups']
           for c in g['cells'].values()):
        lines += ['', 'A model with GroupNorm runs it on Paddle oneDNN as oneDNN ops (pooled '
                  'statistics and a per-channel scale and shift, '
                  '`ppdet/deploy/onednn_group_norm.py`); "group_norm kernel" rows run the same '
                  'model without that rewrite (Paddle\'s own kernel, with reorders around it), '
                  'their int8 agreement against the fp32 row run the same way.']
    if any(c['runtime'] == REDUCE_TWIN for g in result['groups']
           for c in g['cells'].values()):
        lines += ['', 'Paddle oneDNN rows run the NMS candidate bound\'s best-class maximum '
                  '(a reduce_max over the innermost axis) on Paddle\'s own kernel '
                  '(`ppdet/deploy/onednn_reduce.py`); "reduce_max on oneDNN" rows run the same '
                  'model without that rewrite.']
    if note:
        lines += ['', note]
    for g in result['groups']:
        lines += ['', '## %s at %d, %d thread(s)' % (g['config'], g['input_size'], g['threads']),
                  '', _nms_line(g['cells'].values())]
        if g.get('chunks', 1) > 1:
            lines += ['', 'Too many configurations to hold in memory at once: timed in %d '
                      'chunks, each later one with the baseline Paddle fp32 row again, against '
                      'which its rows\' speed-ups are (%s).' % (g['chunks'], '; '.join(
                          'chunk %d: %d configurations' % (i + 1, sum(
                              c.get('chunk', 0) == i for c in g['cells'].values()))
                          for i in range(g['chunks'])))]
        lines += ['', '| model | GFLOPs | runtime | pre | end to end (ms, median) | speed-up | '
                  'pre / infer / post (ms, means) | pre+post share | NMS alone (ms; share) | '
                  'candidates > thr (timed / mean) | detections | RSS added (MB) | '
                  'agreement |',
                  '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
        for c in g['cells'].values():
            label = c['strategy'] + (' + int8' if c['int8'] else '') + (
                ' (output convs int8 too)' if c.get('int8_outputs') else '') + (
                ' (residual adds int8)' if c.get('residual_adds') else '')
            lines.append('| %s | %s | %s | %s | %.1f | %s | %.1f / %.1f / %.1f | %.1f%% | %s | '
                         '%s / %.0f | %d | %.0f | %s |' % (
                             label, '%.2f' % c['gflops'] if c.get('gflops') else '-',
                             _runtime_label(c),
                             'fused' if c['fuse_preprocess'] else 'Python',
                             c['median_ms'], _speedup_cell(c),
                             c['preprocess_ms'], c['inference_ms'], c['postprocess_ms'],
                             100 * c['pre_post_share'],
                             '%.2f; %.1f%%' % (c['nms_ms'], 100 * c['nms_share'])
                             if 'nms_ms' in c else '-',
                             '-' if c.get('timed_candidates') is None
                             else c['timed_candidates'], c['mean_candidates'], c['detections'],
                             c['rss_added_mb'], _agreement_cell(c)))
        rand = [(n, v) for n, v in g.get('nms', {}).items() if 'random_head_bounded_ms' in v]
        for n, v in rand:
            lines += ['', 'NMS alone on %s: trained-like head (%d pairs above the threshold) %.2f '
                      'ms with the pre_nms_top_k bound, %.2f ms without; random head (%d pairs) '
                      '%.2f ms with, %.2f ms without.' % (
                          n, v['candidates'], v['bounded_ms'], v['unbounded_ms'],
                          v['random_head_candidates'], v['random_head_bounded_ms'],
                          v['random_head_unbounded_ms'])]
    return '\n'.join(lines) + '\n'
