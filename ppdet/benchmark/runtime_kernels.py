"""Why one runtime reaches a pruning speed-up that another misses: conv kernels by kind.

With the same fp32 export, onnxruntime ran r578@32 YOLOv3-MobileNetV1 at 608 3.12x faster
than the baseline and Paddle oneDNN 2.82x (run 7, 2026-12-05).  A speed-up is a ratio of two
sums, so it can differ for three reasons: the runtime is faster on the convs the plan prunes
(which lifts its baseline, not its pruned model), slower on the convs the plan keeps, or
spends a different time around its conv kernels.  This module splits each runtime's conv
kernel time by kind (:func:`~ppdet.benchmark.pruning_ceiling.conv_kind`: depthwise, 1x1,
kxk) for a baseline and its pruned model, and gives what the end-to-end median leaves
outside the conv kernels.

The budget: with a rest ``O`` outside the conv kernels in both models, the end-to-end
speed-up is ``(B + O) / (P + O)`` for conv times ``B`` and ``P``; it reaches ``t`` only
while ``O <= (B - t * P) / (t - 1)`` (:func:`rest_budget`).

oneDNN records come from :func:`~ppdet.benchmark.onednn_ops.profile_records` (verbose),
onnxruntime's from :func:`~ppdet.benchmark.onnx_ops.ort_records` (its profiler), each
kernel at its median over the passes: their sum is a typical pass's kernel time, set beside
the timing's median (the rest).  Summing each kernel's fastest pass instead, as the pruning
ceiling does, undercounts a typical pass by ~5% (measured 2026-12-05, YOLOv3-MobileNetV1's
baseline convs on oneDNN: 384 against 403 ms at 608, 103 against 109 at 320), which the
rest would then carry.
"""
import collections
import statistics

from .pruning_ceiling import conv_kind, timed_cells

__all__ = ['ort_conv_kind', 'conv_ms_by_kind', 'rest_budget', 'compare_runtimes',
           'format_runtime_kernels', 'manifest_runtime_kernels']

_ORT_CONVS = ('Conv', 'FusedConv', 'NchwcConv')


def ort_conv_kind(inputs):
    """The :func:`conv_kind` of an onnxruntime conv node from its input shapes (``X`` NCHW,
    ``W`` OIHW: groups = X's channels / W's input channels)."""
    if len(inputs) < 2 or len(inputs[0]) < 2 or len(inputs[1]) < 4:
        raise ValueError('not a convolution node: input shapes %r' % (inputs,))
    x, w = inputs[0], inputs[1]
    if x[1] > w[1] > 0 and x[1] // w[1] > 1:
        return 'depthwise' if w[1] == 1 else 'grouped'
    return '1x1' if tuple(w[2:4]) == (1, 1) else 'kxk'


def conv_ms_by_kind(records):
    """oneDNN or onnxruntime records -> {kind: {'convs', 'ms'}} of their convolutions
    (kinds in a fixed order), and their total ms under the key 'all'."""
    out = collections.OrderedDict((k, {'convs': 0, 'ms': 0.0})
                                  for k in ('depthwise', 'grouped', '1x1', 'kxk'))
    for r in records:
        if r['primitive'] == 'convolution':
            kind = conv_kind(r['shape'])
        elif r['primitive'] in _ORT_CONVS:
            kind = ort_conv_kind(r['inputs'])
        else:
            continue
        out[kind]['convs'] += 1
        out[kind]['ms'] += r['ms']
    out = collections.OrderedDict((k, v) for k, v in out.items() if v['convs'])
    out['all'] = {'convs': sum(v['convs'] for v in out.values()),
                  'ms': sum(v['ms'] for v in out.values())}
    return out


def rest_budget(base_conv_ms, pruned_conv_ms, target):
    """The most time outside the conv kernels (the same in both models) that still leaves a
    ``target`` x end-to-end speed-up; None when the convs alone miss it."""
    budget = (base_conv_ms - target * pruned_conv_ms) / (target - 1.0)
    return budget if budget >= 0 else None


def compare_runtimes(kernels, medians, target=3.0):
    """``kernels``: {runtime: (baseline records, pruned records)}; ``medians``: {runtime:
    (baseline median ms, pruned median ms)} or None -> {runtime: {'base', 'pruned' (by
    kind), 'conv_speedup', 'end_to_end', 'rest_ms' (baseline, pruned), 'budget_ms'}}."""
    out = collections.OrderedDict()
    for rt, (base, pruned) in kernels.items():
        b, p = conv_ms_by_kind(base), conv_ms_by_kind(pruned)
        bc, pc = b['all']['ms'], p['all']['ms']
        med = (medians or {}).get(rt)
        out[rt] = {'base': b, 'pruned': p, 'conv_speedup': bc / pc if pc else None,
                   'end_to_end': med[0] / med[1] if med and med[1] else None,
                   'rest_ms': (med[0] - bc, med[1] - pc) if med else None,
                   'budget_ms': rest_budget(bc, pc, target), 'target': target}
    return out


def _kinds(c):
    kinds = [k for k in c['base'] if k != 'all']
    return '; '.join('%s %.1f -> %.1f' % (k, c['base'][k]['ms'],
                                           c['pruned'].get(k, {'ms': 0.0})['ms'])
                     for k in kinds)


def format_runtime_kernels(rows, labels=None):
    """``rows``: [(pruned row name, :func:`compare_runtimes` dict)] -> a markdown table,
    one line per runtime; ``labels``: {runtime: label}."""
    labels = labels or {}
    lines = ['| model | runtime | conv kernels, ms: baseline -> pruned (speed-up) | by kind, '
             'ms: baseline -> pruned | end to end (medians) | rest outside the conv '
             'kernels, ms: baseline / pruned | rest that still gives the target |',
             '|---|---|---|---|---|---|---|']
    for name, runtimes in rows:
        for rt, c in runtimes.items():
            rest, budget = c['rest_ms'], c['budget_ms']
            lines.append('| %s | %s | %.1f -> %.1f (%.2fx) | %s | %s | %s | %s |' % (
                name, labels.get(rt, rt), c['base']['all']['ms'], c['pruned']['all']['ms'],
                c['conv_speedup'] or 0, _kinds(c),
                '%.2fx' % c['end_to_end'] if c['end_to_end'] else '-',
                '%.1f / %.1f' % rest if rest else '-',
                '%.1f ms for %.0fx' % (budget, c['target']) if budget is not None else
                'none: the convs alone miss %.0fx' % c['target']))
    return '\n'.join(lines) + '\n'


def manifest_runtime_kernels(manifest, result=None, threads=1, passes=5, target=3.0,
                             progress=print):
    """Every fused fp32 pruned row of a full-size manifest with an ONNX export, against its
    (config, size) group's fused fp32 baseline, on Paddle oneDNN and onnxruntime (each model
    profiled once per runtime, each kernel's median of ``passes`` passes); ``result`` (``time_rows``'s) gives the
    medians at ``threads``.  -> [(row name, :func:`compare_runtimes` dict)]."""
    from .onednn_ops import profile_records
    from .onnx_ops import ort_records
    cells = timed_cells(result, threads)
    rows = [(n, r) for n, r in manifest['rows'].items()
            if not r['int8'] and r['fuse_preprocess'] and not r.get('no_onnx')]
    profiles = {}

    def records(name, rt):
        if (name, rt) not in profiles:
            progress('%s kernels of %s (%d passes)' % (rt, name, passes))
            d = manifest['rows'][name]['dir']
            profiles[name, rt] = (
                profile_records(d, threads=threads, passes=passes, reduce=statistics.median)
                if rt == 'paddle' else
                ort_records(d, threads=threads, passes=passes, reduce=statistics.median)[0])
        return profiles[name, rt]

    out = []
    for base, brow in rows:
        if brow['strategy'] != 'baseline':
            continue
        for name, row in rows:
            if row['strategy'] == 'baseline' or \
                    (row['config'], row['input_size']) != (brow['config'], brow['input_size']):
                continue
            kernels = collections.OrderedDict(
                (rt, (records(base, rt), records(name, rt))) for rt in ('paddle', 'onnx'))
            medians = {}
            for rt in kernels:
                b, p = cells.get('%s/%s' % (base, rt)), cells.get('%s/%s' % (name, rt))
                if b and p:
                    medians[rt] = (b['median_ms'], p['median_ms'])
            out.append((name, compare_runtimes(kernels, medians, target)))
    return out
