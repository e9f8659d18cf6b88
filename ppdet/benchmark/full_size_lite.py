"""Paddle-Lite beside the full-size latency table (``--lite_check``): can each row go to a
phone, and does its x86 ``.nb`` compute what Paddle Inference does?

The table times Paddle Inference and onnxruntime; Paddle-Lite is what the phones run, and
there is no ARM board here.  So, per row with the fused pre-processing (the unfused twins
are the same network):

* every row: ``paddle_lite_opt --valid_targets arm`` (the ``.nb`` a phone loads, cached as
  ``model_arm.nb`` in the row's directory), its size, the program's ops that have no ARM or
  host kernel (an int8 row's quantize / dequantize ops are folded by opt, not run), and how
  many of its convolutions opt gave an int8 kernel, beside how many the int8 model meant to
  run in int8 (:func:`quantized_convs`): a conv whose scales opt cannot use runs in float;
  and, where an int8 op hands int8 values to the next, whether the two agree on their scale
  (:func:`int8_handoffs`);
* fp32 rows: the x86 ``.nb``'s detections on the check photos matched to Paddle Inference
  fp32's, and its x86 time for what it is (a few runs after the check, not interleaved:
  x86 Lite is a correctness tool, several times slower than oneDNN);
* int8 rows get no x86 run: Paddle-Lite's x86 int8 convolutions do not compute the model
  (:data:`ppdet.deploy.lite.X86_INT8_WRONG`); their ARM numerics need the device.
"""
import collections
import os
import time

import numpy as np

from .op_profile import CONV_OPS

__all__ = ['lite_checks', 'format_lite_checks', 'row_differences', 'quantized_convs',
           'int8_handoffs']


def lite_checks(manifest, images, timed_image, repeats=3, lite_env=None, progress=print):
    """-> {row name: cell} for the manifest's fused rows (module docstring).  A cell has
    ``arm_nb_mb``, ``arm_missing_ops``, ``arm_convs`` / ``arm_int8_convs`` and
    ``model_int8_convs`` (or ``arm_error``) and, for fp32 rows,
    ``x86_matched`` (share of Paddle fp32's detections on ``images`` the x86 ``.nb`` finds),
    ``x86_detections`` / ``paddle_detections`` and ``x86_ms`` (median of ``repeats`` runs
    on ``timed_image``), or ``x86_error``."""
    from ppdet.deploy import lite
    env = lite.require_lite_env(lite_env)       # before minutes of conversions
    out = collections.OrderedDict()
    for name, row in manifest['rows'].items():
        if not row['fuse_preprocess']:
            continue
        progress('Paddle-Lite check: %s' % name)
        cell = {'config': row['config'], 'input_size': row['input_size'],
                'strategy': row['strategy'], 'int8': bool(row['int8']),
                'int8_outputs': bool(row.get('int8_outputs')),
                'residual_adds': bool(row.get('residual_adds'))}
        cell.update(_arm(row['dir'], env))
        if not row['int8']:
            cell.update(_x86(row['dir'], images, timed_image, repeats, env))
        out[name] = cell
    return out


def _arm(model_dir, env):
    from ppdet.benchmark.runtimes import error_line
    from ppdet.deploy import lite
    try:
        with lite.Opt(model_dir, env) as opt:      # the params staged in the chroot once
            missing = opt.model_ops('arm')['missing']
            nb = lite.cached_nb(model_dir, 'arm', opt=opt)
            kernels = opt.kernels('arm')
    except (lite.LiteError, OSError) as e:
        return {'arm_error': error_line(e)}
    convs = [k['precision'] for k in kernels if k['op'] in CONV_OPS]
    return {'arm_nb_mb': os.path.getsize(nb) / 2.0 ** 20,
            'arm_missing_ops': missing,
            'arm_convs': len(convs), 'arm_int8_convs': convs.count('int8'),
            'model_int8_convs': len(quantized_convs(model_dir)),
            'arm_int8_handoffs': int8_handoffs(kernels)}


def int8_handoffs(kernels):
    """Where an int8 op of opt's program (:func:`ppdet.deploy.lite.optimized_kernels`) reads
    a tensor another int8 op wrote in int8 (an ``int8_out`` kernel): -> {'count',
    'mismatched'}, mismatched when the writer's output scale is not the reader's input scale
    (the reader would take the integers for other values)."""
    writer, count, mismatched = {}, 0, 0
    for k in kernels:
        if k['input_scale'] is not None and k['inputs']:
            w = writer.get(k['inputs'][0])
            if w is not None and w['alias'] == 'int8_out':
                count += 1
                if w['output_scale'] is None or not np.isclose(
                        w['output_scale'], k['input_scale'], rtol=1e-6, atol=0.0):
                    mismatched += 1
        for name in k['outputs']:     # after the reads: opt reuses names
            writer[name] = k
    return {'count': count, 'mismatched': mismatched}


def quantized_convs(model_dir):
    """The convolutions of an exported program meant to run in int8: a dequantize op writes
    their weights (QAT's and the ONNX-style PTQ's format), or a fake quantize op their input
    (PaddleSlim's other PTQ format, whose weights are stored as integers).  Not merely a
    quantized input: QAT writes a quantize / dequantize pair after every quantized layer, so
    a float conv reading such a layer's output reads it through a dequantize too."""
    from ppdet.deploy.infer_cfg import model_files
    from ppdet.deploy.lite import is_quant_op
    from ppdet.utils.static_graph import op_producers, read_program
    block = read_program(model_files(model_dir)[0]).global_block()
    producers = op_producers(block)

    def written_by(names, test):
        return any(n in producers and test(producers[n].type) for n in names)

    return [op.output_arg_names[0] for op in block.ops if op.type in CONV_OPS and (
        written_by(op.input('Filter'), is_quant_op) or
        written_by(op.input('Input'), lambda t: t.startswith('fake_quantize')))]


def _x86(model_dir, images, timed_image, repeats, env):
    from ppdet.benchmark.full_size import matched_share
    from ppdet.benchmark.runtimes import error_line
    from ppdet.deploy import Detector
    ref = Detector(model_dir, 'paddle', cpu_threads=1)
    try:
        expected = [ref.predict([im])[0] for im in images]
    finally:
        ref.close()
    try:
        det = Detector(model_dir, 'lite', cpu_threads=1, lite_env=env)
    except Exception as e:      # opt or the runner failing on this model is the finding
        return {'x86_error': error_line(e)}
    try:
        got = [det.predict([im])[0] for im in images]
        det.predict([timed_image])                      # warm-up
        times = []
        for _ in range(int(repeats)):
            t0 = time.perf_counter()
            det.predict([timed_image])
            times.append((time.perf_counter() - t0) * 1e3)
    finally:
        det.close()
    return dict(row_differences(expected, got), x86_matched=matched_share(expected, got),
                x86_detections=int(sum(len(g) for g in got)),
                paddle_detections=int(sum(len(e) for e in expected)),
                x86_ms=float(np.median(times)), x86_runs=int(repeats))


def row_differences(expected, got):
    """Row by row, for images where both give the same number of [class, score, box] rows:
    each expected row against the row of its class nearest to it (rows tied in score may
    come in another order) -> ``max_score_diff``, ``max_box_diff`` (pixels) over those
    pairs, ``same_classes`` (every expected row found a row of its class) and
    ``images_compared``.  Beside the IoU matching because a random-weight model's boxes can
    be degenerate (zero height after clipping: IoU 0 with an identical box)."""
    pairs = [(e, g) for e, g in zip(expected, got) if len(e) == len(g) and len(e)]
    out = {'images_compared': len(pairs), 'max_score_diff': None, 'max_box_diff': None,
           'same_classes': None}
    if not pairs:
        return out
    score, box, same = 0.0, 0.0, True
    for e, g in pairs:
        dist = np.abs(e[:, None, 1:] - g[None, :, 1:]).max(-1)
        dist[e[:, None, 0] != g[None, :, 0]] = np.inf
        nearest = dist.argmin(1)
        same &= bool(np.isfinite(dist[np.arange(len(e)), nearest]).all())
        score = max(score, float(np.abs(e[:, 1] - g[nearest, 1]).max()))
        box = max(box, float(np.abs(e[:, 2:] - g[nearest, 2:]).max()))
    out.update(max_score_diff=score, max_box_diff=box, same_classes=same)
    return out


def _row_label(cell):
    label = cell['strategy'] + (' + int8' if cell['int8'] else '')
    if cell['int8_outputs']:
        label += ' (output convs int8 too)'
    if cell['residual_adds']:
        label += ' (residual adds int8 too)'
    return label


def _handoffs_text(cell):
    h = cell.get('arm_int8_handoffs') or {}
    if not h.get('count'):
        return ''
    return '; %d int8 hand-offs, %s' % (h['count'], '%d with mismatched scales' % h['mismatched']
                                         if h['mismatched'] else 'scales equal')


def _rows_text(cell):
    if not cell.get('images_compared'):
        return 'row counts differ'
    return '%.1e / %.1e px%s' % (cell['max_score_diff'], cell['max_box_diff'],
                                 '' if cell['same_classes'] else ', a class missing')


def format_lite_checks(checks):
    """Markdown: one table per (config, input size)."""
    from ppdet.deploy.lite import X86_INT8_WRONG
    groups = collections.OrderedDict()
    for cell in checks.values():
        groups.setdefault((cell['config'], cell['input_size']), []).append(cell)
    lines = ['', '## Paddle-Lite: the ARM conversion and the x86 .nb against Paddle Inference', '',
             'ARM: `paddle_lite_opt --valid_targets arm` (the .nb a phone loads; not run: no ARM '
             'board here), with the convs opt gave an int8 kernel beside the convs the int8 '
             'model quantizes, and whether each int8 hand-off between two ops (an int8_out '
             'kernel read by an int8 one) has the writer\'s output scale equal to the reader\'s '
             'input scale.  x86: the fp32 .nb\'s detections on the six check photos matched to '
             'Paddle Inference fp32\'s (by class and IoU; and row by row where the counts '
             'agree, each row against the nearest of its class: a random-weight model\'s '
             'boxes can be degenerate, zero height after clipping, and match nothing by IoU), '
             'and its x86 time (median of a few runs, one thread, '
             'not interleaved: a correctness check, not a phone number).  int8 rows: no x86 '
             'run. %s.' % X86_INT8_WRONG]
    for (config, size), cells in groups.items():
        lines += ['', '### %s at %d' % (config, size), '',
                  '| model | ARM .nb (MB) | ops without an ARM kernel | ARM int8 convs (the '
                  'model\'s int8 convs) | x86 .nb = Paddle fp32 (detections matched) | row by '
                  'row: max score / box diff | x86 .nb (ms) |', '|---|---|---|---|---|---|---|']
        for c in cells:
            arm = ('failed: %s' % c['arm_error'], '-', '-') if 'arm_error' in c else (
                '%.1f' % c['arm_nb_mb'], ', '.join(c['arm_missing_ops']) or 'none',
                '%d of %d (%d)%s' % (c['arm_int8_convs'], c['arm_convs'], c['model_int8_convs'],
                                     _handoffs_text(c)))
            if c['int8']:
                x86 = ('- (int8)', '-', '-')
            elif 'x86_error' in c:
                x86 = ('failed: %s' % c['x86_error'], '-', '-')
            else:
                x86 = ('%.0f%% (%d / %d)' % (100 * c['x86_matched'], c['x86_detections'],
                                             c['paddle_detections']), _rows_text(c),
                       '%.1f' % c['x86_ms'])
            lines.append('| %s | %s | %s | %s | %s | %s | %s |' % ((_row_label(c),) + arm + x86))
    return '\n'.join(lines) + '\n'
