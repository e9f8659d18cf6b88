"""The main job's results as a markdown table (seed-style, relative to the baseline)."""


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
    return '\n'.join(lines)
