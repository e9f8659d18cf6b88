"""The main job's results as markdown tables: every exported row (seed-style, relative to the
baseline), then the pruning plans compared at equal FLOPs."""


def _pct(new, old):
    return '%+.2f%%' % (100.0 * (new - old) / old) if old else ''


def format_results(results):
    """Markdown table of what the pipeline measured (seed-style, relative to baseline)."""
    base = results.get('baseline')
    lines = ['| model | GFLOPs | size (MB) | input | AP after pruning | AP | AP50 | '
             'AP deployed (Paddle Inference) |', '|---|---|---|---|---|---|---|---|']
    for key in results.get('rows', []):
        r = results.get(key)
        if not r:
            continue
        rel = (lambda k: ' (%s)' % _pct(r[k], base[k])) if base and key != 'baseline' \
            else (lambda k: '')
        opt = (lambda k: '%.3f' % r[k] if k in r else '-')
        lines.append('| %s | %.4f%s | %.2f%s | %d | %s | %.3f | %.3f | %s |' % (
            key, r['GFLOPs'], rel('GFLOPs'), r['size_MB'], rel('size_MB'), r['input_size'],
            opt('AP_after_prune'), r['AP'], r['AP50'], opt('AP_deployed')))
    if 'infer_image' in results:
        lines.append('')
        lines.append('detections drawn on %s (%d with score >= 0.5)' % (
            results['infer_image'], results.get('infer_detections', 0)))
    if 'sensitivity' in results:
        lines.append('sensitivity curves: %s' % results['sensitivity']['plot'])
    comparison = format_pruning_comparison(results)
    if comparison:
        lines += ['', comparison]
    return '\n'.join(lines)


PLAN_LABELS = (('uniform', 'uniform'), ('preset', 'preset'), ('derived', 'sensitivity-derived'))


def _spread(values):
    """'mean (min-max, n=N)' of the seeds' values; the value alone for one seed."""
    if not values:
        return '-'
    mean = sum(values) / len(values)
    if len(values) == 1:
        return '%.4f' % mean
    return '%.4f (%.4f-%.4f, n=%d)' % (mean, min(values), max(values), len(values))


def pruning_rows(results, preset, plan):
    """The fine-tuned rows of ``plan`` at ``preset``'s cut, one per seed, in seed order."""
    rows = [dict(r, name=k) for k, r in results.items() if isinstance(r, dict)
            and r.get('cut_of') == preset and r.get('plan') == plan and 'AP' in r]
    return sorted(rows, key=lambda r: r.get('seed', 0))


def format_pruning_comparison(results):
    """Uniform vs preset vs sensitivity-derived at each preset's FLOPs cut: GFLOPs, size,
    AP right after pruning and after fine-tuning (mean and range over the seeds)."""
    plans = results.get('prune_plans')
    if not plans:
        return ''
    latency = (results.get('prune_latency') or {}).get('median_ms', {})
    lines = ['Pruning plans at equal FLOPs (AP after fine-tuning: mean (min-max) over seeds; '
             'latency: Paddle fp32, 1 thread, batch 1, median)', '',
             '| cut | plan | GFLOPs | size (MB) | AP after pruning | AP after fine-tuning | '
             'seeds | CPU latency (ms) |', '|---|---|---|---|---|---|---|---|']
    if 'baseline' in latency and 'baseline' in results:
        b = results['baseline']
        lines.append('| 0 | baseline | %.4f | %.2f | - | %.4f | - | %.1f |' % (
            b['GFLOPs'], b['size_MB'], b['AP'], latency['baseline']))
    for preset, entry in sorted(plans.items(), key=lambda kv: kv[1]['target_cut']):
        cut = '-%.1f%% (%s)' % (100 * entry['target_cut'], preset)
        for plan, label in PLAN_LABELS:
            info = entry.get(plan, {})
            if 'error' in info:
                lines.append('| %s | %s | not reachable: %s | | | | | |' % (cut, label,
                                                                         info['error']))
                continue
            rows = pruning_rows(results, preset, plan)
            if not rows:
                lines.append('| %s | %s | not run | | | | | |' % (cut, label))
                continue
            if plan == 'uniform':
                label += ' %.3f' % list(info['ratios'].values())[0]
            ms = latency.get(rows[0].get('name'))
            lines.append('| %s | %s | %.4f (-%.1f%%) | %.2f | %.4f | %s | %s | %s |' % (
                cut, label, rows[0]['GFLOPs'], 100 * info['cut'], rows[0]['size_MB'],
                rows[0]['AP_after_prune'], _spread([r['AP'] for r in rows]),
                ','.join(str(r.get('seed', 0)) for r in rows), '%.1f' % ms if ms else '-'))
    return '\n'.join(lines)
