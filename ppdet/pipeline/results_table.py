"""The main job's results as markdown tables: every exported row (seed-style, relative to the
baseline), the int8 rows against their simulation and their fp32 reference (QAT against its
fp32 twin), the distilled rows against their undistilled twin and their teacher, then the
pruning plans compared at equal FLOPs."""

# How far (in AP, 0-1) a teacher should lead the student's undistilled twin before distilling
# from it can be expected to help (benchmarks/distill_quality.py's --min_margin): on the
# built-in YOLOv3 teachers from 3.3 AP below to 3.6 above the twin gave -6.1 to +0.4 AP, one
# 19.5 above it +0.8 to +2.1 (README, "Distillation").  A rule of thumb, not a measured cut.
TEACHER_MIN_MARGIN = 0.02


def _pct(new, old):
    return '%+.2f%%' % (100.0 * (new - old) / old) if old else ''


def rows_with_latency(results):
    """``(name, row, ms)`` for every row of ``results['rows']`` with a result; ``ms(runtime)``
    is its median latency on that runtime ('12.34') or '-' (the face and dense tables)."""
    lat = (results.get('latency') or {}).get('median_ms', {})
    for name in results.get('rows', []):
        row = results.get(name)
        if row:
            times = lat.get(name, {})
            yield name, row, (lambda rt, t=times: '%.2f' % t[rt] if t.get(rt) else '-')


def format_results(results):
    """Markdown table of what the pipeline measured (seed-style, relative to baseline)."""
    base = results.get('baseline')
    lines = ['| model | GFLOPs | size (MB) | input | AP after pruning | AP | AP50 | '
             'AP deployed (Paddle Inference) | AP simulated (int8 rows) | agreement deployed '
             'vs simulated |', '|---|---|---|---|---|---|---|---|---|---|']
    for key in results.get('rows', []):
        r = results.get(key)
        if not r:
            continue
        rel = (lambda k: ' (%s)' % _pct(r[k], base[k])) if base and key != 'baseline' \
            else (lambda k: '')
        opt = (lambda k: '%.3f' % r[k] if k in r else '-')
        agree = '%.0f%%' % (100 * r['agreement_vs_simulated']) \
            if 'agreement_vs_simulated' in r else '-'
        lines.append('| %s | %.4f%s | %.2f%s | %d | %s | %.3f | %.3f | %s | %s | %s |' % (
            key, r['GFLOPs'], rel('GFLOPs'), r['size_MB'], rel('size_MB'), r['input_size'],
            opt('AP_after_prune'), r['AP'], r['AP50'], opt('AP_deployed'), opt('AP_simulated'),
            agree))
    if 'infer_image' in results:
        lines.append('')
        lines.append('detections drawn on %s (%d with score >= 0.5)' % (
            results['infer_image'], results.get('infer_detections', 0)))
    if 'sensitivity' in results:
        lines.append('sensitivity curves: %s' % results['sensitivity']['plot'])
    int8 = format_int8_comparison(results)
    if int8:
        lines += ['', int8]
    distill = format_distill_comparison(results)
    if distill:
        lines += ['', distill]
    comparison = format_pruning_comparison(results)
    if comparison:
        lines += ['', comparison]
    return '\n'.join(lines)


def _ap_of_weights(results, weights):
    """-> (the first row whose checkpoint is ``weights``, e.g. a teacher, its AP), or
    (None, None)."""
    for key in results.get('rows', []):
        row = results.get(key) or {}
        if row.get('weights') == weights and 'AP' in row:
            return key, row['AP']
    return None, None


def format_distill_comparison(results):
    """Each distilled row against its undistilled twin (same student checkpoint and schedule,
    no teacher) and its teacher's AP, with a warning where the teacher does not lead the twin
    by :data:`TEACHER_MIN_MARGIN`: distilling from it is then expected to cost AP."""
    rows = [(k, results[k]) for k in results.get('rows', [])
            if 'distill' in (results.get(k) or {}) and 'AP' in results[k]]
    if not rows:
        return ''
    lines = ['Distillation: each student against its twin (the same checkpoint fine-tuned on the '
             'same schedule without a teacher)', '',
             '| distilled row | loss (weight) | AP | twin | its AP | distilled - twin | teacher | '
             'its AP | teacher - twin |', '|---|---|---|---|---|---|---|---|---|']
    weak = []
    for key, r in rows:
        twin = r.get('twin')
        twin_ap = (results.get(twin) or {}).get('AP')
        teacher, teacher_ap = _ap_of_weights(results, r.get('teacher'))
        lead = teacher_ap - twin_ap if teacher_ap is not None and twin_ap is not None else None
        lines.append('| %s | %s (%g) | %.4f | %s | %s | %s | %s | %s | %s |' % (
            key, r['distill'], r.get('distill_weight', float('nan')), r['AP'], twin or '-',
            '%.4f' % twin_ap if twin_ap is not None else '-',
            '%+.4f' % (r['AP'] - twin_ap) if twin_ap is not None else '-', teacher or '-',
            '%.4f' % teacher_ap if teacher_ap is not None else '-',
            '%+.4f' % lead if lead is not None else '-'))
        if lead is not None and lead < TEACHER_MIN_MARGIN:
            weak.append('%s: its teacher (%s) %+.4f over its twin (%s)' % (key, teacher, lead,
                                                                          twin))
    if weak:
        lines += ['', 'Teacher not ahead of the twin by %.2f (%g AP points): %s. Students pulled '
                  'toward such a teacher lost up to 6 AP to their twin on the built-in data '
                  '(README, "Distillation"); train the teacher longer (tools/pipeline.py '
                  '--teacher_epochs, or benchmarks/distill_quality.py, which refuses such a '
                  'teacher).' % (TEACHER_MIN_MARGIN, 100 * TEACHER_MIN_MARGIN, '; '.join(weak))]
    return '\n'.join(lines)


def int8_reference(results, row):
    """The fp32 row an int8 row is judged against: a QAT row's twin (fine-tuned on the same
    schedule without quantization) when it was run, else the row it was made from."""
    twin = row.get('twin')
    if twin and 'AP' in results.get(twin, {}):
        return twin
    return row.get('parent')


def format_int8_comparison(results):
    """Each int8 row: simulated vs deployed AP and their detection agreement, and the
    deployed AP against its fp32 reference (:func:`int8_reference`)."""
    rows = [(k, results[k]) for k in results.get('rows', [])
            if results.get(k, {}).get('quantized') and 'AP_deployed' in results[k]]
    if not rows:
        return ''
    lines = ['Int8 rows: simulated (fake-quant graph in float) vs deployed (Paddle Inference '
             'oneDNN int8); QAT against its fp32 twin fine-tuned on the same schedule and LR, '
             'post-training int8 against its source (deployed AP where measured)', '',
             '| int8 row | AP simulated | AP deployed | deployed - simulated | agreement | '
             'fp32 reference | its AP | int8 - reference |', '|---|---|---|---|---|---|---|---|']
    for key, r in rows:
        ref_name = int8_reference(results, r)
        ref = results.get(ref_name, {})
        ref_ap = ref.get('AP_deployed', ref.get('AP'))
        sim = r.get('AP_simulated')
        lines.append('| %s | %s | %.4f | %s | %s | %s | %s | %s |' % (
            key, '%.4f' % sim if sim is not None else '-', r['AP_deployed'],
            '%+.4f' % (r['AP_deployed'] - sim) if sim is not None else '-',
            '%.0f%% (%d/%d)' % (100 * r['agreement_vs_simulated'], r['agreement_matched'],
                                r['agreement_compared']) if 'agreement_vs_simulated' in r
            else '-', ref_name or '-', '%.4f' % ref_ap if ref_ap is not None else '-',
            '%+.4f' % (r['AP_deployed'] - ref_ap) if ref_ap is not None else '-'))
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
