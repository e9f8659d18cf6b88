"""The compression report: ``results.json`` + the latency sweep -> ``compression.md`` (the
main table, Paddle-Lite x86, what cannot be measured here, the seed's own latency table),
``ap_vs_latency.png`` and ``latency.json``.

TensorRT and ARM latency cannot be measured on a CPU machine: the report says how to
measure them and shows the seed's figures in a separate, labelled table.
"""
import os

from .latency_sweep import failures, table_rows
from .percent import percent_change
from .runtimes import LITE_NOTE, RUNTIMES
from .seed_tables import format_seed_latency

__all__ = ['format_compression_report', 'failure_summary', 'plot_ap_vs_latency',
           'write_compression_report']


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


def _missing(lat, rt):
    """Why row ``lat`` has no measurement for ``rt`` ('' when nothing went wrong)."""
    if rt in lat.get('failed', {}):
        return 'FAILED: ' + lat['failed'][rt]
    if rt in lat.get('unavailable', {}):
        return 'not available here: ' + lat['unavailable'][rt]
    return ''


def _cell(lat, rt):
    cell = lat.get('runtimes', {}).get(rt)
    if not cell or cell.get('median_ms') is None:
        return _missing(lat, rt) or '-'
    text = '%.2f ms' % cell['median_ms']
    if cell.get('ratio') is not None:
        text += ' (%.2fx)' % cell['ratio']
    agree = _agree_text(cell.get('agreement'))
    return text + ('; ' + agree if agree else '')


def _rel(value, base, pct=True):
    if base is None or value is None:
        return ''
    return ' (%+.2f%%)' % percent_change(value, base) if pct else ' (%+.2f)' % (value - base)


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
        cells = [_cell(lat, rt) for rt in cols]
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
        elif _missing(r, 'lite_x86'):
            lines.append('| %s | %s | - | - |' % (name, _missing(r, 'lite_x86')))
    return '\n'.join(lines) if len(lines) > 2 else ''


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
        '# model_arm.json (beside the .nb) holds the input size and pre-processing',
        'scp model_arm.nb model_arm.json deploy/lite/arm_benchmark.py user@device:~',
        '# on the device (paddlelite built for armv8, see deploy/lite/README.md):',
        'python3 arm_benchmark.py --model_file model_arm.nb --threads 4 --warmup 10 \\',
        '    --repeats 100',
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
        ''] + (['CPU flags: `%s`' % s['cpu_flags'], ''] if s.get('cpu_flags') else []) + [
        _main_table(rows, latency, runtimes), '']
    failed = failure_summary(latency)
    # each after a blank line: a line right under a table is read as one more of its rows
    if failed:
        parts[-1:-1] = ['', failed]
    if latency.get('command'):
        parts[-1:-1] = ['', 'command: `%s`' % latency['command']]
    lite = _lite_table(latency) if 'lite_x86' in runtimes else ''
    if lite:
        parts += ['## Paddle-Lite x86', '',
                  '**%s.** Paddle-Lite\'s x86 kernels are not its ARM ones; this checks that '
                  'the .nb conversion keeps the detections. Median of %d runs, timed after the '
                  'interleaved rounds.' % (LITE_NOTE, s['lite_repeats']), '', lite, '']
    unavailable = ['- %s / %s: %s' % (name, rt, why) for name, r in _ordered_rows(latency)
                   for rt, why in r.get('unavailable', {}).items()
                   if rt in runtimes and (rt != 'lite_x86' or not lite)]
    if unavailable:
        parts += ['## Not available here', ''] + unavailable + ['']
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


def failure_summary(latency):
    """One line naming every failed cell with its reason ('' when none failed)."""
    failed = failures(latency)
    if not failed:
        return ''
    return 'FAILED (%d): %s' % (len(failed), '; '.join(
        '%s / %s: %s' % (f['row'], f['runtime'], f['reason']) for f in failed))
