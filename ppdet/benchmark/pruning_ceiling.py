"""The best speed-up a pruning plan can give on a runtime, measured (Amdahl's law).

Pruning shrinks some convolutions; the rest of the model keeps its time.  When the layers
a plan leaves alone are slow per FLOP (MobileNetV1's depthwise and high-resolution 1x1
convs are memory-bound: 45-47 GMAC/s on one core against 56-58 for the YOLOv3 neck's wide
convs, measured), the speed-up stays under the FLOPs ratio however fast the pruned layers
become.

:func:`pruning_ceiling` pairs the convolutions of a baseline's and a pruned model's oneDNN
records (:mod:`ppdet.benchmark.onednn_ops`; pruning changes channel counts, not the order
of layers): a conv whose problem is unchanged is untouched by the plan.  The ceiling is
the baseline's time with every pruned conv shrunk by its MAC ratio at the baseline's own
speed per MAC and everything else kept: ``T / (T - t_pruned * (1 - macs_after/macs_before))``
on the oneDNN time.  Time outside oneDNN (Paddle's per-op cost, decoding, NMS) does not shrink
either, so the end-to-end ceiling is lower still; it is not computed here because it would
mix a profile's fastest passes with a timing's medians, which differ by more than the
margin on a shared machine.

It also splits the pruned model's untouched time by conv kind (:func:`conv_kind`) and
gives each kind's speed per MAC as a share of the fastest conv (per MAC) of the baseline:
whether faster kernels for the layers a plan keeps could lift its ceiling, or whether they
already run near the best rate the core reaches (:func:`format_untouched`).
"""
import re

__all__ = ['conv_macs', 'conv_kind', 'pruning_ceiling', 'format_ceilings', 'format_untouched',
           'timed_cells', 'manifest_ceilings']


def conv_macs(problem):
    """Multiply-accumulates of a oneDNN convolution problem descriptor such as
    ``g32mb1_ic32oc32_ih304oh304kh3sh1dh0ph1_iw304ow304kw3sw1dw0pw1``."""
    def field(key, default=1):
        m = re.search(r'(?:^|[_\d])%s(\d+)' % key, problem)
        return int(m.group(1)) if m else default
    if field('ic', 0) == 0 or field('oc', 0) == 0:
        raise ValueError('not a convolution problem: %r' % problem)
    oh, ow = field('oh', field('ih')), field('ow', field('iw'))
    return (field('mb') * field('ic') * field('oc') * oh * ow * field('kh') * field('kw')
            / field('g'))


def conv_kind(problem):
    """'depthwise' (one group per input channel), 'grouped', '1x1' or 'kxk' (any other
    kernel) for a oneDNN convolution problem: the kinds differ in speed per MAC (a depthwise
    conv does 9 MACs per value it reads: memory-bound)."""
    groups = re.match(r'g(\d+)', problem)
    if groups:
        ic = re.search(r'ic(\d+)', problem)
        return 'depthwise' if ic and ic.group(1) == groups.group(1) else 'grouped'
    kernel = [re.search(r'%s(\d+)' % k, problem) for k in ('kh', 'kw')]
    return '1x1' if all(m and m.group(1) == '1' for m in kernel) else 'kxk'


def _convs(records):
    return [r for r in records if r['primitive'] == 'convolution']


def pruning_ceiling(base_records, pruned_records):
    """-> dict of the baseline's and the pruned model's oneDNN times split into untouched
    convs, pruned convs and everything else, the MACs of the pruned convs before and
    after, the measured oneDNN speed-up and the ceiling (module docstring)."""
    base, pruned = _convs(base_records), _convs(pruned_records)
    if len(base) != len(pruned):
        raise ValueError('the baseline runs %d convolutions and the pruned model %d: not the '
                         'same architecture (pruning keeps every layer)'
                         % (len(base), len(pruned)))
    pairs = list(zip(base, pruned))
    same = [(b, p) for b, p in pairs if b['shape'] == p['shape']]
    cut = [(b, p) for b, p in pairs if b['shape'] != p['shape']]
    total_b = sum(r['ms'] for r in base_records)
    total_p = sum(r['ms'] for r in pruned_records)
    macs_b = sum(conv_macs(b['shape']) for b, _ in cut)
    macs_p = sum(conv_macs(p['shape']) for _, p in cut)
    cut_b = sum(b['ms'] for b, _ in cut)
    ratio = macs_p / macs_b if macs_b else 1.0
    saved = cut_b * (1.0 - ratio)
    kinds = {}
    for _, p in same:
        k = kinds.setdefault(conv_kind(p['shape']), {'convs': 0, 'ms': 0.0, 'macs': 0.0})
        k['convs'] += 1
        k['ms'] += p['ms']
        k['macs'] += conv_macs(p['shape'])
    fastest = max(base, key=lambda b: conv_macs(b['shape']) / b['ms'] if b['ms'] else 0.0,
                  default=None)
    return {
        'base_ms': total_b, 'pruned_ms': total_p,
        'measured': total_b / total_p if total_p else None,
        'untouched_convs': len(same),
        'untouched_base_ms': sum(b['ms'] for b, _ in same),
        'untouched_pruned_ms': sum(p['ms'] for _, p in same),
        'untouched_macs': sum(conv_macs(b['shape']) for b, _ in same),
        'pruned_convs': len(cut), 'pruned_base_ms': cut_b,
        'pruned_pruned_ms': sum(p['ms'] for _, p in cut),
        'pruned_expected_ms': cut_b * ratio,
        'macs_before': macs_b, 'macs_after': macs_p, 'mac_ratio': ratio,
        'other_base_ms': total_b - sum(r['ms'] for r in base),
        'other_pruned_ms': total_p - sum(r['ms'] for r in pruned),
        'ceiling_onednn': total_b / (total_b - saved) if total_b > saved else None,
        # where the pruned model's untouched time goes, against the fastest conv (per MAC)
        # the baseline ran: how far the layers a plan keeps are from this core's best rate
        'untouched_kinds': {k: kinds[k] for k in sorted(kinds)},
        'fastest_conv': fastest['shape'] if fastest else None,
        'fastest_conv_rate': _rate(conv_macs(fastest['shape']), fastest['ms'])
        if fastest else None,
    }


def _rate(macs, ms):
    return macs / ms / 1e6 if ms else float('nan')         # GMAC/s


def format_ceilings(rows):
    """``rows``: [(name, :func:`pruning_ceiling` dict)] -> a markdown table."""
    lines = [
        '| model | oneDNN ms: baseline -> pruned (speed-up) | untouched convs: ms in '
        'baseline, GMAC/s | pruned convs: ms in baseline, GMAC/s -> ms (at the baseline\'s '
        'rate) | MACs of the pruned convs kept | ceiling (oneDNN) | measured end to end |',
        '|---|---|---|---|---|---|---|']
    for name, c in rows:
        got = c.get('measured_end_to_end')
        lines.append('| %s | %.1f -> %.1f (%.2fx) | %d: %.1f, %.1f | %d: %.1f, %.1f -> %.1f '
                     '(%.1f) | %.1f%% | %.2fx | %s |' % (
                         name, c['base_ms'], c['pruned_ms'], c['measured'] or 0,
                         c['untouched_convs'], c['untouched_base_ms'],
                         _rate(c['untouched_macs'], c['untouched_base_ms']),
                         c['pruned_convs'], c['pruned_base_ms'],
                         _rate(c['macs_before'], c['pruned_base_ms']),
                         c['pruned_pruned_ms'], c['pruned_expected_ms'],
                         100 * c['mac_ratio'], c['ceiling_onednn'] or 0,
                         '%.2fx' % got if got else '-'))
    return '\n'.join(lines) + '\n'


def format_untouched(rows):
    """``rows``: [(name, :func:`pruning_ceiling` dict)] -> a markdown table of the pruned
    model's untouched convs by kind: convs, ms, GMAC/s and that rate as a share of the
    fastest conv of the baseline (rows from before these fields are left out)."""
    lines = ['| model | untouched convs: ms of the pruned model\'s oneDNN ms | by kind: '
             'convs, ms, GMAC/s (share of the fastest conv\'s rate) | fastest conv of the '
             'baseline: GMAC/s |', '|---|---|---|---|']
    for name, c in rows:
        kinds, best = c.get('untouched_kinds'), c.get('fastest_conv_rate')
        if kinds is None or not best:
            continue
        parts = ['%s %d, %.1f ms, %.1f (%.0f%%)' % (
            k, v['convs'], v['ms'], _rate(v['macs'], v['ms']),
            100 * _rate(v['macs'], v['ms']) / best) for k, v in kinds.items()]
        lines.append('| %s | %.1f of %.1f | %s | %.1f (`%s`) |' % (
            name, c['untouched_pruned_ms'], c['pruned_ms'], '; '.join(parts), best,
            c['fastest_conv']))
    return '\n'.join(lines) + '\n'


def timed_cells(result, threads):
    """{'row/runtime': cell} of every group of a ``time_rows`` result timed at ``threads``
    (empty without a result)."""
    cells = {}
    for group in (result or {}).get('groups', []):
        if group['threads'] == threads:
            cells.update(group['cells'])
    return cells


def manifest_ceilings(manifest, result=None, threads=1, passes=5, progress=print):
    """The ceiling of every pruned row of a full-size manifest
    (:mod:`ppdet.benchmark.full_size`) against its (config, size) group's baseline of the
    same precision (fp32 rows against the fp32 baseline, int8 rows against the int8 one;
    rows with the output convs quantized too are left out), each model profiled in a child
    process (fastest of ``passes`` passes).  ``result`` (``time_rows``'s) gives the measured
    end-to-end speed-ups at ``threads``, over that same baseline.
    -> [(row name, :func:`pruning_ceiling` dict)]."""
    from .onednn_ops import profile_records
    cells = timed_cells(result, threads)
    out = []
    for int8 in (False, True):
        rows = [(n, r) for n, r in manifest['rows'].items() if r['int8'] == int8 and
                r['fuse_preprocess'] and not r.get('int8_outputs')]
        for name, row in rows:
            if row['strategy'] != 'baseline':
                continue
            progress('oneDNN profile of %s (%d passes)' % (name, passes))
            base = profile_records(row['dir'], threads=threads, passes=passes)
            base_ratio = cells.get('%s/paddle' % name, {}).get('ratio')
            for other, orow in rows:
                if (orow['config'], orow['input_size']) != (row['config'], row['input_size']) \
                        or orow['strategy'] == 'baseline':
                    continue
                progress('oneDNN profile of %s (%d passes)' % (other, passes))
                c = pruning_ceiling(base, profile_records(orow['dir'], threads=threads,
                                                          passes=passes))
                got = cells.get('%s/paddle' % other, {}).get('ratio')
                c['measured_end_to_end'] = got / base_ratio if got and base_ratio else None
                out.append((other, c))
    return out
