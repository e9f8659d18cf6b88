"""The full-size latency table as a chart: each compressed row's speed-up over the fp32
baseline, one panel per (config, input size), one bar per CPU (a results file of
``benchmarks/full_size_latency.py`` per CPU), the 95% interval as a black line and the
issue's goals as dotted / dashed ones.

``speedups(runs)`` reads the bars out of the results (what the chart draws and the tests
check); ``plot_speedups(runs, path)`` draws them.  ``runs``: ``[(label, result), ...]``; a
label may come twice (one CPU's 320 and 608 in two files): its groups are merged.
"""
import collections

from ppdet.utils.fileio import atomic_write

__all__ = ['GOALS', 'RUNTIME_SUFFIXES', 'row_label', 'speedups', 'plot_speedups']

# issue 17's acceptance for YOLOv3-MobileNetV1, one thread: (speed-up, what must reach it)
GOALS = {('yolov3_mobilenet_v1', 320): ((3.0, 'pruning alone'), (6.0, 'pruning + int8')),
         ('yolov3_mobilenet_v1', 608): ((3.0, 'pruning alone'), (8.0, 'pruning + int8'))}


# what a row's label gets on a runtime other than Paddle oneDNN (fp32 / int8)
RUNTIME_SUFFIXES = {'paddle': '', 'paddle_bf16': '', 'onnx': ' on onnxruntime',
                    'onnx_int8': ' on onnxruntime', 'paddle_group_norm': ', group_norm kernel',
                    'paddle_onednn_reduce': ', reduce_max on oneDNN'}


def row_label(cell):
    """'r578@32 + int8' for a cell of the results ('int8': the baseline's int8 row,
    'uniform_p40 + bf16', 'r578@32 on onnxruntime', 'fp32 on onnxruntime')."""
    parts = [cell['strategy']] if cell['strategy'] != 'baseline' else []
    if cell['int8']:
        parts.append('int8')
    if cell['runtime'] == 'paddle_bf16':
        parts.append('bf16')
    name = ' + '.join(parts) or 'fp32'
    if cell.get('int8_outputs'):
        name += ', output convs int8'
    return name + RUNTIME_SUFFIXES.get(cell['runtime'], ' on ' + cell['runtime'])


def speedups(runs, runtimes=('paddle',), threads=1):
    """-> {(config, size): {row label: {run label: (ratio, low, high)}}}: each row's speed-up
    over Paddle's fp32 baseline (1x by definition, so left out), the rows of ``runtimes``
    in that order and in the table's (fp32 rows, then int8 ones).  Only the fused rows
    (pre-processing in the graph: what the table compares) at ``threads``; ``low, high``:
    the 95% interval (None when not recorded)."""
    if isinstance(runtimes, str):
        runtimes = tuple(r for r in runtimes.split(',') if r)
    out = collections.OrderedDict()
    for label, result in runs:
        for group in result['groups']:
            if group['threads'] != threads:
                continue
            cells = [c for c in group['cells'].values()
                     if c['runtime'] in runtimes and c['fuse_preprocess'] and c.get('ratio')
                     and not (c['runtime'] == 'paddle' and c['strategy'] == 'baseline'
                              and not c['int8'])]
            if not cells:
                continue
            panel = out.setdefault((group['config'], group['input_size']),
                                   collections.OrderedDict())
            order = [c['strategy'] for c in group['cells'].values() if not c['int8']]
            cells.sort(key=lambda c: (runtimes.index(c['runtime']), bool(c['int8']),
                                      bool(c.get('int8_outputs')),
                                      order.index(c['strategy']) if c['strategy'] in order
                                      else -1))
            for c in cells:
                low, high = c.get('ratio_interval') or (None, None)
                panel.setdefault(row_label(c), collections.OrderedDict())[label] = (
                    c['ratio'], low, high)
    return out


def plot_speedups(runs, path, runtimes=('paddle',), threads=1, title=None):
    """Draw :func:`speedups` to ``path`` (PNG); -> what was drawn."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    bars = speedups(runs, runtimes, threads)
    if not bars:
        raise ValueError('no rows of %s at %d thread(s) in these results: nothing to plot'
                         % (runtimes if isinstance(runtimes, str) else ','.join(runtimes),
                            threads))
    labels = list(collections.OrderedDict((lb, None) for lb, _ in runs))
    fig, axes = plt.subplots(len(bars), 1, figsize=(12, 3.6 * len(bars)), squeeze=False)
    width = 0.8 / len(labels)
    for ax, ((config, size), rows) in zip(axes[:, 0], bars.items()):
        for k, label in enumerate(labels):
            xs, ys, spans = [], [], []
            for i, per_run in enumerate(rows.values()):
                if label not in per_run:
                    continue
                ratio, low, high = per_run[label]
                xs.append(i - 0.4 + width * (k + 0.5))
                ys.append(ratio)
                if low is not None:
                    spans.append((xs[-1], low, high))
            ax.bar(xs, ys, width, label=label)
            # the interval is of the per-round ratios' median: the bar (median over median)
            # may lie just outside it, so it is drawn as it is, not as +- errors
            for x, low, high in spans:
                ax.vlines(x, low, high, color='black', lw=0.8)
            for x, y in zip(xs, ys):
                ax.text(x, y, '%.1f' % y, ha='center', va='bottom', fontsize=6)
        goals = GOALS.get((config, size), ())
        for (value, what), style in zip(goals, (':', '--')):
            ax.axhline(value, ls=style, lw=0.9, color='dimgrey',
                       label='goal: %s %gx' % (what, value))
        ax.set_ylim(0, 1.12 * max([v[0] for per in rows.values() for v in per.values()]
                                  + [value for value, _ in goals]))
        ax.set_xlim(-0.6, max(len(rows), 4) - 0.4)   # a lone row: not one bar across
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(list(rows), rotation=20, ha='right', fontsize=8)
        ax.set_ylabel('speed-up over fp32')
        ax.set_title('%s at %d, %d thread(s), end to end' % (config, size, threads),
                     fontsize=9)
        ax.grid(True, axis='y', alpha=0.3)
        ax.legend(fontsize=7, loc='upper left')
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    try:
        atomic_write(path, lambda f: fig.savefig(f, format='png', dpi=100), mode='wb')
    finally:
        plt.close(fig)
    return bars
