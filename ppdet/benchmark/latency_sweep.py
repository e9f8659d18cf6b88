"""The seed's benchmark tables, measured here: architecture (GFLOPs / size) and compression
(AP, CPU latency per runtime, int8 agreement), plus the AP-vs-latency plot.

* :func:`architecture_stats` builds a full-size config, prunes it with a seed strategy at
  608 and counts GFLOPs (seed convention: conv MACs / 1024^3, deformable convs not
  counted; ``gflops_all`` counts them) and size at each input size;
  :func:`format_architecture_table` puts each figure beside the seed's.
* :func:`latency_sweep` times every exported row of the pipeline's ``results.json`` on
  every CPU runtime that applies to it, all configurations interleaved in one process
  (:func:`ppdet.deploy.benchmark.interleaved_latency`), and checks each runtime's
  detections against the same row's Paddle fp32 model on a few eval images first.
* :func:`format_compression_report` / :func:`plot_ap_vs_latency` / :func:`write_compression_report`
  turn ``results.json`` + the sweep into ``compression.md``, ``ap_vs_latency.png`` and
  ``latency.json``.

TensorRT and ARM latency cannot be measured on this CPU machine: the report says how to
measure them and shows the seed's own figures in a separate, labelled table.
"""
import collections
import os
import platform
import time

from .compare import DEFAULT_TOLERANCE, detection_agreement

__all__ = ['SEED_ARCH', 'SEED_LATENCY', 'ARCH_CONFIGS', 'STRATEGIES', 'architecture_stats',
           'format_architecture_table', 'table_rows', 'is_quantized', 'RUNTIMES',
           'BASELINE_RUNTIME', 'latency_sweep',
           'format_compression_report', 'plot_ap_vs_latency', 'write_compression_report',
           'format_seed_latency']

STRATEGIES = ('baseline', 'sensity', 'r578')
ARCH_CONFIGS = ('configs/yolov3_mobilenet_v1.yml', 'configs/yolov3_mobilenet_v1_voc.yml',
                'configs/yolov3_r50vd_dcn.yml', 'configs/yolov3_r34.yml')

# seed 002 (PaddleDetection 1.x slim benchmark): GFLOPs per input size and size in MB
SEED_ARCH = {
    'yolov3_mobilenet_v1': {
        'baseline': ({608: 20.64, 416: 9.66, 320: 5.72}, 94.60),
        'sensity': ({608: 13.57, 416: 6.35, 320: 3.76}, 67.60),
        'r578': ({608: 6.27, 416: 2.93, 320: 1.74}, 31.30)},
    'yolov3_mobilenet_v1_voc': {
        'baseline': ({608: 20.20, 416: 9.46, 320: 5.60}, 93.37),
        'sensity': ({608: 13.22, 416: 6.19, 320: 3.66}, 66.53),
        'r578': ({608: 6.15, 416: 2.88, 320: 1.70}, 30.81)},
    'yolov3_r50vd_dcn': {
        'baseline': ({608: 44.71}, 176.82),
        'sensity': ({608: 37.53}, 149.49),
        'r578': ({608: 29.98}, 112.08)},
}

# seed 002's latency table (ms/image): Tesla P4 + TensorRT, batch 1; Kirin 970 / Snapdragon
# 835 / 855 with Paddle-Lite armv8, 4 threads.  The seed's numbers, not ours.
SEED_LATENCY_DEVICES = ('Tesla P4 (TensorRT)', 'Kirin 970', 'Snapdragon 835', 'Snapdragon 855')
SEED_LATENCY = [
    ('MobileNetV1', 'VOC', 'baseline', 608, (16.556, 748.404, 734.970, 289.878)),
    ('MobileNetV1', 'VOC', 'baseline', 416, (9.031, 371.214, 349.065, 140.877)),
    ('MobileNetV1', 'VOC', 'baseline', 320, (6.235, 221.705, 200.498, 80.515)),
    ('MobileNetV1', 'VOC', 'r578', 608, (10.064, 314.531, 323.537, 123.414)),
    ('MobileNetV1', 'VOC', 'r578', 416, (5.478, 151.562, 146.014, 56.420)),
    ('MobileNetV1', 'VOC', 'r578', 320, (3.880, 91.132, 87.440, 31.470)),
    ('ResNet50-vd-dcn', 'COCO', 'baseline', 608, (36.127, None, None, None)),
    ('ResNet50-vd-dcn', 'COCO', 'sensity', 608, (33.245, None, None, None)),
    ('ResNet50-vd-dcn', 'COCO', 'r578', 608, (29.138, None, None, None)),
]


def _pct(new, old):
    return 100.0 * (new - old) / old if old else float('nan')


# -- architecture table ------------------------------------------------------------------
def _build(config):
    import ppdet.modeling  # noqa: F401  (registers the components)
    from ppdet.core.workspace import create, load_config
    cfg = load_config(config)
    return create(cfg['architecture'], cfg)


def architecture_stats(config, strategies=STRATEGIES, sizes=(608, 416, 320), prune_size=608,
                       progress=None):
    """Prune ``config``'s full-size model with each strategy at ``prune_size``; count at ``sizes``.

    -> list of dicts {config, strategy, input_size, gflops (seed convention), gflops_all
    (with deformable convs), size_mb, size_mb_blocks (4 KiB-rounded tensors), seconds}.
    """
    from ppdet.slim.prune import PrunePlan, prune
    from ppdet.utils.model_stats import count_conv_macs, gflops, param_size_mb
    name = os.path.splitext(os.path.basename(config))[0]
    rows = []
    for strategy in strategies:
        tic = time.time()
        model = _build(config)
        if strategy != 'baseline':
            plan = PrunePlan.from_flags(model, None, strategy, input_size=[prune_size] * 2)
            prune(model, plan)
        size, blocks = param_size_mb(model), param_size_mb(model, blocks=True)
        for s in sizes:
            macs = count_conv_macs(model, s)
            rows.append({'config': name, 'strategy': strategy, 'input_size': int(s),
                         'gflops': gflops(macs['conv']),
                         'gflops_all': gflops(macs['conv'] + macs['deformable']),
                         'size_mb': size, 'size_mb_blocks': blocks})
        for r in rows[-len(sizes):]:
            r['seconds'] = round(time.time() - tic, 1)
        if progress:
            progress('%s %s: %s, %.2f MB (%.1f s)' % (name, strategy, ', '.join(
                '%d: %.2f GFLOPs' % (r['input_size'], r['gflops']) for r in rows[-len(sizes):]),
                size, time.time() - tic))
        del model
    return rows


def _seed_arch(row):
    seed = SEED_ARCH.get(row['config'], {}).get(row['strategy'])
    if not seed:
        return None, None
    return seed[0].get(row['input_size']), seed[1]


def _vs(ours, seed, fmt='%.2f'):
    if seed is None:
        return '-', '-'
    return fmt % seed, '%+.2f%%' % _pct(ours, seed)


def format_architecture_table(rows):
    """Markdown: our GFLOPs / size beside the seed's, with the relative difference and
    each strategy's cut vs baseline (ours, and the seed's)."""
    base = {(r['config'], r['input_size']): r for r in rows if r['strategy'] == 'baseline'}
    lines = ['| config | strategy | input | GFLOPs (ours) | seed | diff | cut vs baseline '
             '(ours / seed) | GFLOPs with DCN | size MB (ours: raw / 4 KiB files) | seed | '
             'diff (4 KiB files / raw) |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        seed_g, seed_mb = _seed_arch(r)
        g_seed, g_diff = _vs(r['gflops'], seed_g)
        s_seed, s_diff = _vs(r['size_mb_blocks'], seed_mb)
        if seed_mb:
            s_diff += ' / %+.2f%%' % _pct(r['size_mb'], seed_mb)
        b = base.get((r['config'], r['input_size']))
        cut = '-'
        if b is not None and r['strategy'] != 'baseline':
            cut = '%+.2f%%' % _pct(r['gflops'], b['gflops'])
            sb = _seed_arch(b)[0]
            cut += ' / %s' % ('%+.2f%%' % _pct(seed_g, sb) if seed_g and sb else '-')
        dcn = '%.2f' % r['gflops_all'] if r['gflops_all'] != r['gflops'] else '(no DCN)'
        lines.append('| %s | %s | %d | %.2f | %s | %s | %s | %s | %.2f / %.2f | %s | %s |' % (
            r['config'], r['strategy'], r['input_size'], r['gflops'], g_seed, g_diff, cut, dcn,
            r['size_mb'], r['size_mb_blocks'], s_seed, s_diff))
    return '\n'.join(lines)


# -- compression table: rows of results.json --------------------------------------------
def table_rows(results):
    """-> [(name, row)] in table order: ``results['rows']``, or, from an older results.json,
    baseline / sensity / r578 and then any other entry with an AP."""
    names = results.get('rows')
    if names is None:
        names = [k for k in STRATEGIES if isinstance(results.get(k), dict)]
        names += [k for k, v in results.items()
                  if k not in names and isinstance(v, dict) and 'AP' in v]
    return [(n, results[n]) for n in names if isinstance(results.get(n), dict)]


def is_quantized(row):
    """Whether a row's exported model is quantized (``quantized: true`` in infer_cfg.yml)."""
    from .infer_cfg import load_infer_cfg
    d = row.get('inference_dir')
    return bool(d and load_infer_cfg(d).get('quantized'))


# runtime key -> (label, applies to quantized rows?)
RUNTIMES = collections.OrderedDict([
    ('paddle_fp32', ('Paddle fp32 (oneDNN)', False)),
    ('paddle_int8', ('Paddle int8 (oneDNN)', True)),
    ('onnx_fp32', ('onnxruntime fp32', False)),
    ('onnx_int8', ('onnxruntime int8 (QDQ)', False)),
    ('lite_x86', ('Paddle-Lite x86 .nb', False)),
])
BASELINE_RUNTIME = 'paddle_fp32'
LITE_NOTE = 'x86 Lite: a correctness check, not a phone number'
def _runtimes_for(quantized, runtimes):
    return [rt for rt in runtimes if RUNTIMES[rt][1] == quantized]


def _make_predictor(model_dir, runtime, threads, calib_feeds=None, lite_env=None):
    from .predictors import PaddlePredictor, create_predictor
    if runtime == 'paddle_fp32':
        return create_predictor(model_dir, 'paddle', cpu_threads=threads)
    if runtime == 'paddle_int8':
        return create_predictor(model_dir, 'paddle', cpu_threads=threads,
                                enable_mkldnn_int8=True)
    if runtime == 'paddle_float_reference':
        # a quantized graph with its fake-quant ops computed in float: the int8 kernels'
        # reference (never timed: slower than fp32)
        return PaddlePredictor(model_dir, cpu_threads=threads, enable_mkldnn=True)
    if runtime == 'onnx_fp32':
        return create_predictor(model_dir, 'onnx', cpu_threads=threads)
    if runtime == 'onnx_int8':
        from .onnx import quantize_onnx
        onnx_file = quantize_onnx(model_dir, iter(calib_feeds or []))
        return create_predictor(model_dir, 'onnx', cpu_threads=threads, onnx_file=onnx_file)
    if runtime == 'lite_x86':
        kw = {'lite_env': lite_env} if lite_env else {}
        return create_predictor(model_dir, 'lite', cpu_threads=threads, **kw)
    raise ValueError('unknown runtime %r; choose from %s' % (runtime, ', '.join(RUNTIMES)))


def _error_line(e):
    lines = str(e).strip().splitlines() or [type(e).__name__]
    return '%s: %s' % (type(e).__name__, lines[0][:300])


def cpu_description():
    """The CPU model plus the instruction sets int8 speed depends on (VNNI, AMX): oneDNN's
    int8 kernels gain much more on a CPU with them than on a plain AVX2 one."""
    name, flags = None, set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and name is None:
                    name = line.split(':', 1)[1].strip()
                elif line.startswith('flags') and not flags:
                    flags = set(line.split(':', 1)[1].split())
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    return '%s; %s' % (name, int8_isa(flags)) if flags else name


def int8_isa(flags):
    """'AVX2, no VNNI' / 'AVX-512, AVX512-VNNI, AMX-INT8' ... from /proc/cpuinfo flags."""
    have = [label for flag, label in (('avx2', 'AVX2'), ('avx512f', 'AVX-512'),
                                      ('avx512_vnni', 'AVX512-VNNI'), ('avx_vnni', 'AVX-VNNI'),
                                      ('amx_int8', 'AMX-INT8')) if flag in flags]
    if not any('VNNI' in h for h in have):
        have.append('no VNNI')
    return ', '.join(have)


class _RowModels(object):
    """One exported row: its inputs and its predictors per runtime (or why one is missing)."""

    def __init__(self, name, row, runtimes, images, calib_images, threads, lite_env, log):
        from .infer_cfg import load_infer_cfg
        from .preprocess import Preprocessor
        self.name, self.dir = name, row['inference_dir']
        cfg = load_infer_cfg(self.dir)
        self.quantized = bool(cfg.get('quantized'))
        pre = Preprocessor(cfg)
        self.check_feeds = [pre([im]) for im in images]
        self.time_feed = self.check_feeds[0]
        calib = [pre([im]) for im in calib_images] if calib_images else self.check_feeds
        self.reference = 'paddle_float_reference' if self.quantized else 'paddle_fp32'
        self.preds, self.skipped = collections.OrderedDict(), {}
        wanted = _runtimes_for(self.quantized, runtimes)
        for rt in ([self.reference] if self.reference not in wanted else []) + wanted:
            tic = time.time()
            try:
                self.preds[rt] = _make_predictor(self.dir, rt, threads, calib, lite_env)
                log('  %s / %s: loaded (%.1f s)' % (name, rt, time.time() - tic))
            except Exception as e:  # a runtime that cannot take this model: say why, go on
                self.skipped[rt] = _error_line(e)
                log('  %s / %s: skipped (%s)' % (name, rt, self.skipped[rt]))

    def _drop(self, rt, why):
        self.preds.pop(rt).close()
        self.skipped[rt] = why

    def check(self, tolerance):
        """Agreement of every runtime with the reference on the check images.

        A runtime is never timed unchecked: without a working reference, or when it fails
        on these images, it moves to ``skipped`` with the reason.
        """
        try:
            ref = [self.preds[self.reference].run(f) for f in self.check_feeds]
        except Exception as e:
            why = 'no fp32 reference to check against (%s)' % (
                self.skipped.get(self.reference) or _error_line(e))
            for rt in [rt for rt in self.preds if rt != self.reference]:
                self._drop(rt, why)
            if self.reference in self.preds:
                self._drop(self.reference, _error_line(e))
            return {}
        checks = {}
        for rt in [rt for rt in self.preds if rt != self.reference]:
            try:
                runs = [self.preds[rt].run(f) for f in self.check_feeds]
            except Exception as e:
                self._drop(rt, _error_line(e))
                continue
            checks[rt] = detection_agreement(ref, runs, tolerance)
        return checks

    def close(self):
        for p in self.preds.values():
            p.close()


def latency_sweep(rows, images, runtimes=tuple(RUNTIMES), threads=1, warmup=3, repeats=20,
                  calib_images=None, pause_s=0.05, lite_repeats=5, tolerance=None,
                  lite_env=None, progress=None):
    """Time every exported row on every applicable CPU runtime; check agreement first.

    ``rows``: [(name, row)] (:func:`table_rows`); rows without ``inference_dir`` are listed
    as not exported.  ``images``: RGB eval images: all of them for the agreement check, the
    first one (batch 1) for timing.  ``calib_images``: onnxruntime int8 calibration images
    (default ``images``).  fp32 rows run ``paddle_fp32`` / ``onnx_fp32`` / ``onnx_int8`` /
    ``lite_x86``, quantized ones ``paddle_int8``.  Every runtime's detections are matched to
    the same row's Paddle fp32 model (for a quantized row: its graph with the fake-quant ops
    in float).  All configurations but Lite are timed interleaved in one process; Lite
    (another process, several times slower) is timed after, with ``lite_repeats``.
    Ratios are speed-ups vs the ``baseline`` row's Paddle fp32 median.
    """
    log = progress or (lambda m: None)
    unknown = [rt for rt in runtimes if rt not in RUNTIMES]
    if unknown:
        raise ValueError('unknown runtime %s; choose from %s' % (unknown, ', '.join(RUNTIMES)))
    if not len(images):
        raise ValueError('latency_sweep needs at least one eval image')
    out = {'settings': {'threads': int(threads), 'warmup': int(warmup), 'repeats': int(repeats),
                        'lite_repeats': int(lite_repeats), 'batch_size': 1,
                        'pause_s': pause_s, 'check_images': len(images),
                        'calib_images': len(calib_images) if calib_images else len(images),
                        'tolerance': dict(DEFAULT_TOLERANCE, **(tolerance or {})),
                        'cpu': cpu_description(), 'cpu_count': os.cpu_count(),
                        'date': time.strftime('%Y-%m-%d %H:%M')},
           'runtimes': collections.OrderedDict((k, RUNTIMES[k][0]) for k in runtimes),
           'rows': collections.OrderedDict(), 'row_order': [n for n, _ in rows]}
    models = []
    try:
        for name, row in rows:
            if not row.get('inference_dir'):
                out['rows'][name] = {'exported': False, 'runtimes': {}, 'skipped': {}}
                continue
            log('loading %s (%s)' % (name, row['inference_dir']))
            m = _RowModels(name, row, runtimes, images, calib_images, threads, lite_env, log)
            models.append(m)
            checks = m.check(tolerance)
            out['rows'][name] = {'exported': True, 'inference_dir': m.dir,
                                 'quantized': m.quantized, 'input_size': row.get('input_size'),
                                 'reference': m.reference, 'skipped': dict(m.skipped),
                                 'runtimes': collections.OrderedDict(
                                     (rt, {'agreement': checks.get(rt)})
                                     for rt in m.preds if rt in runtimes)}
            for rt, a in checks.items():
                log('  %s / %s vs %s: %d of %d detections matched (%.0f%%; %d vs %d found)'
                    % (name, rt, m.reference, a['matched'], a['compared'],
                       100 * a['matched_fraction'], a['n'], a['n_ref']))
        _time_all(models, out, warmup, repeats, pause_s, lite_repeats, log)
    finally:
        for m in models:
            m.close()
    _add_ratios(out)
    return out


def _time_all(models, out, warmup, repeats, pause_s, lite_repeats, log):
    from .benchmark import interleaved_latency, time_predictor
    timed = collections.OrderedDict()
    for m in models:
        for rt, p in m.preds.items():
            if rt in out['rows'][m.name]['runtimes'] and rt != 'lite_x86':
                timed[(m.name, rt)] = (lambda p=p, f=m.time_feed: p.run(f))
    if timed:
        log('timing %d configurations interleaved: %d rounds after %d warm-up runs each'
            % (len(timed), repeats, warmup))
        res = interleaved_latency(timed, repeats=repeats, warmup=warmup, pause_s=pause_s)
        for key in timed:
            name, rt = key
            out['rows'][name]['runtimes'][rt].update(
                median_ms=res['median_ms'][key], p90_ms=res['p90_ms'][key])
    for m in models:
        if 'lite_x86' in m.preds and 'lite_x86' in out['rows'][m.name]['runtimes']:
            log('timing %s / lite_x86 (%d runs)' % (m.name, lite_repeats))
            s = time_predictor(m.preds['lite_x86'], m.time_feed, warmup=min(warmup, 2),
                               repeats=lite_repeats)
            out['rows'][m.name]['runtimes']['lite_x86'].update(
                median_ms=s['p50_ms'], p90_ms=s['p90_ms'], note=LITE_NOTE)


def _add_ratios(out):
    base = out['rows'].get('baseline', {}).get('runtimes', {}).get(BASELINE_RUNTIME, {})
    base_ms = base.get('median_ms')
    out['baseline'] = {'row': 'baseline', 'runtime': BASELINE_RUNTIME, 'median_ms': base_ms}
    for r in out['rows'].values():
        for cell in r['runtimes'].values():
            ms = cell.get('median_ms')
            cell['ratio'] = (base_ms / ms) if (base_ms and ms) else None


# -- compression report ------------------------------------------------------------------
# latency.json is written with sorted keys: the order lives in RUNTIMES and 'row_order'
def _ordered_runtimes(latency):
    chosen = latency.get('runtimes') or RUNTIMES
    return [(rt, RUNTIMES[rt][0]) for rt in RUNTIMES if rt in chosen]


def _ordered_rows(latency):
    order = latency.get('row_order') or list(latency['rows'])
    return [(n, latency['rows'][n]) for n in order if n in latency['rows']]


def _agree_text(a):
    if not a:
        return ''
    if a.get('n_ref', 0) == 0:
        return 'nothing to match (no detection >= %.2f)' % a['tolerance']['score_thresh']
    text = 'match %.0f%% (%d/%d, IoU %.2f)' % (100 * a['matched_fraction'], a['matched'],
                                              a['compared'], a['mean_iou'])
    return text if a['agrees'] else 'DISAGREES: ' + text


def _cell(cell):
    if not cell or cell.get('median_ms') is None:
        return '-'
    text = '%.2f ms' % cell['median_ms']
    if cell.get('ratio') is not None:
        text += ' (%.2fx)' % cell['ratio']
    agree = _agree_text(cell.get('agreement'))
    return text + ('; ' + agree if agree else '')


def _rel(value, base, pct=True):
    if base is None or value is None:
        return ''
    return ' (%+.2f%%)' % _pct(value, base) if pct else ' (%+.2f)' % (value - base)


def _metric(row, key):
    v = row.get(key)
    return None if v is None else 100.0 * float(v)


def _main_table(rows, latency, runtimes):
    base = dict(rows).get('baseline')
    cols = [rt for rt in runtimes if rt != 'lite_x86']
    head = ['model', 'GFLOPs', 'size (MB)', 'input', 'AP', 'AP50'] + [RUNTIMES[rt][0]
                                                                     for rt in cols]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for name, row in rows:
        is_base = name == 'baseline' or base is None
        ap, ap50 = _metric(row, 'AP'), _metric(row, 'AP50')
        b = (lambda k: None) if is_base else (lambda k: base.get(k))
        bm = (lambda k: None) if is_base else (lambda k: _metric(base, k))
        lat = latency['rows'].get(name, {})
        cells = [_cell(lat.get('runtimes', {}).get(rt)) for rt in cols]
        if not lat.get('exported', True) or name not in latency['rows']:
            cells = ['not exported'] + ['-'] * (len(cols) - 1)
        fmt = lambda v, nd: ('%.' + str(nd) + 'f') % v if v is not None else '-'  # noqa: E731
        lines.append('| ' + ' | '.join([
            name, fmt(row.get('GFLOPs'), 4) + _rel(row.get('GFLOPs'), b('GFLOPs')),
            fmt(row.get('size_MB'), 2) + _rel(row.get('size_MB'), b('size_MB')),
            str(row.get('input_size', '-')),
            fmt(ap, 2) + _rel(ap, bm('AP'), pct=False),
            fmt(ap50, 2) + _rel(ap50, bm('AP50'), pct=False)] + cells) + ' |')
    return '\n'.join(lines)


def _lite_table(latency):
    lines = ['| model | Paddle-Lite x86 .nb | vs baseline Paddle fp32 | agreement with the row\'s '
             'Paddle fp32 |', '|---|---|---|---|']
    for name, r in _ordered_rows(latency):
        cell = r.get('runtimes', {}).get('lite_x86')
        if cell and cell.get('median_ms') is not None:
            ratio = '%.2fx' % cell['ratio'] if cell.get('ratio') else '-'
            lines.append('| %s | %.2f ms | %s | %s |' % (
                name, cell['median_ms'], ratio, _agree_text(cell.get('agreement'))))
        elif 'lite_x86' in r.get('skipped', {}):
            lines.append('| %s | not run: %s | - | - |' % (name, r['skipped']['lite_x86']))
    return '\n'.join(lines) if len(lines) > 2 else ''


def format_seed_latency():
    """The seed's own latency table (ms/image), labelled as the seed's."""
    head = ['backbone', 'dataset', 'strategy', 'input'] + list(SEED_LATENCY_DEVICES)
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    base = {(b, d, s): v for b, d, st, s, v in SEED_LATENCY if st == 'baseline'}
    for backbone, data, strategy, size, values in SEED_LATENCY:
        ref = base.get((backbone, data, size))
        cells = []
        for i, v in enumerate(values):
            if v is None:
                cells.append('-')
            elif strategy != 'baseline' and ref and ref[i]:
                cells.append('%.3f (%+.2f%%)' % (v, _pct(v, ref[i])))
            else:
                cells.append('%.3f' % v)
        lines.append('| %s | %s | %s | %d | %s |' % (backbone, data, strategy, size,
                                                     ' | '.join(cells)))
    return '\n'.join(lines)


def _not_measured(latency):
    dirs = [r['inference_dir'] for r in latency['rows'].values() if r.get('inference_dir')]
    d = dirs[0] if dirs else 'output/pipeline/inference/baseline'
    return '\n'.join([
        '**TensorRT (GPU)**: not measured: this machine has no GPU and the CPU Paddle build '
        'has no TensorRT. On a machine with an NVIDIA GPU, `pip install paddlepaddle-gpu==2.6.2` '
        '(a CUDA build with TensorRT 8.x libraries on `LD_LIBRARY_PATH`), then per row:',
        '',
        '```bash',
        'python deploy/python/infer.py --model_dir %s --image_dir <eval images> \\' % d,
        '    --device GPU --run_mode trt_fp16 --run_benchmark --warmup 10 --repeats 100',
        '```',
        '',
        '(`--run_mode trt_fp32` / `trt_int8`; a quantized row runs `trt_int8` as it is.)',
        '',
        '**ARM (Paddle-Lite, the seed\'s Kirin 970 / Snapdragon 835 / 855 columns)**: not '
        'measured: no ARM device here. Convert here, time on the phone/board with 4 threads:',
        '',
        '```bash',
        'python deploy/lite/convert.py --model_dir %s --valid_targets arm \\' % d,
        '    --optimize_out model_arm',
        'scp model_arm.nb deploy/lite/arm_benchmark.py user@device:~',
        '# on the device (paddlelite built for armv8, see deploy/lite/README.md):',
        'python3 arm_benchmark.py --model_file model_arm.nb --input_size <row input> \\',
        '    --threads 4 --warmup 10 --repeats 100',
        '```'])


def format_compression_report(results, latency, title='Compression: accuracy and CPU latency'):
    """The whole compression.md text from ``results.json`` and :func:`latency_sweep`'s output."""
    rows = table_rows(results)
    runtimes = [rt for rt, _ in _ordered_runtimes(latency)]
    s = latency['settings']
    base_ms = latency.get('baseline', {}).get('median_ms')
    parts = [
        '# %s' % title, '',
        'Measured on %s (%s logical cores), %d thread(s), batch 1 at each row\'s eval input '
        'size, %s. Latency: median of %d interleaved rounds (every configuration once per '
        'round, order reversed every other round, %.2f s pause before each run) after %d '
        'warm-up runs; one eval image, model only (preprocessing excluded).' % (
            s['cpu'], s['cpu_count'], s['threads'], s['date'], s['repeats'], s['pause_s'],
            s['warmup']),
        '',
        'Ratio (x): speed-up vs the baseline row\'s Paddle fp32 (oneDNN) latency%s; > 1 is '
        'faster. Agreement: detections matched (same class, IoU >= %.2f, score >= %.2f) to '
        'the same row\'s Paddle fp32 model on %d eval images (for a quantized row: its graph '
        'with the fake-quant ops computed in float, which is never timed: a quantized row has only '
        'the Paddle int8 column); "DISAGREES" below %.0f%% matched. AP / '
        'AP50: COCO box AP x 100 on the eval set (from results.json); GFLOPs = conv MACs / '
        '1024^3 (the seed\'s convention).' % (
            ' (%.2f ms)' % base_ms if base_ms else ' (not measured: no exported baseline)',
            s['tolerance']['iou_thresh'], s['tolerance']['score_thresh'], s['check_images'],
            100 * s['tolerance']['min_matched_fraction']),
        '', _main_table(rows, latency, runtimes), '']
    if latency.get('command'):
        parts[-1:-1] = ['command: `%s`' % latency['command'], '']
    lite = _lite_table(latency) if 'lite_x86' in runtimes else ''
    if lite:
        parts += ['## Paddle-Lite x86', '',
                  '**%s.** Paddle-Lite\'s x86 kernels are not its ARM ones; this checks that '
                  'the .nb conversion keeps the detections. Median of %d runs, timed after the '
                  'interleaved rounds.' % (LITE_NOTE, s['lite_repeats']), '', lite, '']
    skipped = ['- %s / %s: %s' % (name, rt, why) for name, r in _ordered_rows(latency)
               for rt, why in r.get('skipped', {}).items() if rt != 'lite_x86' or not lite]
    if skipped:
        parts += ['## Not run', ''] + skipped + ['']
    parts += ['## Not measured here: TensorRT (GPU) and ARM', '', _not_measured(latency), '',
              '## Seed reference (the seed\'s numbers, not ours)', '',
              'From the seed\'s table (PaddleDetection 1.x, trained COCO/VOC models): Tesla P4 '
              'with TensorRT, batch 1; Kirin 970 / Snapdragon 835 / 855 with Paddle-Lite armv8, '
              '4 threads; ms/image. Different hardware, models and data than the rows above: '
              'for comparing the *ratios*, not the milliseconds.', '',
              format_seed_latency(), '']
    return '\n'.join(parts)


def plot_ap_vs_latency(results, latency, path):
    """AP (x 100) against median latency, one marker per runtime, one point per row."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401
    ap = {name: _metric(row, 'AP') for name, row in table_rows(results)}
    markers = dict(zip(RUNTIMES, 'osD^v'))
    fig, ax = plt.subplots(figsize=(7.5, 5))
    plotted = False
    for rt, label in _ordered_runtimes(latency):
        pts = [(c['median_ms'], ap[name], name) for name, r in _ordered_rows(latency)
               for k, c in r.get('runtimes', {}).items()
               if k == rt and c.get('median_ms') is not None and ap.get(name) is not None]
        if not pts:
            continue
        plotted = True
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=markers.get(rt, 'o'),
                   label=label + (' (correctness check)' if rt == 'lite_x86' else ''),
                   alpha=0.8)
        for x, y, name in pts:
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords='offset points')
    if plotted:
        ax.set_xscale('log')
        # plain millisecond tick labels, not 2x10^1
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter('%g'))
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, 'no latency measured', ha='center', transform=ax.transAxes)
    s = latency.get('settings', {})
    ax.set_xlabel('median latency, ms (CPU, %s thread(s), batch 1)' % s.get('threads', '?'))
    ax.set_ylabel('box AP x 100 (eval set)')
    ax.set_title('AP vs CPU latency per row and runtime')
    ax.grid(True, which='both', alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_compression_report(results, latency, out_dir):
    """Write compression.md, ap_vs_latency.png and latency.json under ``out_dir``."""
    from ppdet.utils.fileio import atomic_write, write_json
    os.makedirs(out_dir, exist_ok=True)
    paths = {'md': os.path.join(out_dir, 'compression.md'),
             'png': os.path.join(out_dir, 'ap_vs_latency.png'),
             'json': os.path.join(out_dir, 'latency.json')}
    text = format_compression_report(results, latency)
    atomic_write(paths['md'], lambda f: f.write(text))
    plot_ap_vs_latency(results, latency, paths['png'])
    write_json(paths['json'], latency)
    return paths
