"""Is the full-size table's interleaved timing fair to the fast rows?

:func:`~ppdet.benchmark.full_size.time_rows` times every configuration of a group in one
process, one after another (:func:`~ppdet.deploy.benchmark.interleaved_latency`).  A fast
row (r578 + int8) then always runs right after a slow one, which may have evicted its
weights from the caches or its primitives from oneDNN's cache.  :func:`order_check` loads a
built group the same way and times chosen rows both ways in the same process
(:func:`~ppdet.deploy.benchmark.order_effect`).  It also times each row against the
group's baseline in a process of their own (:func:`time_own_process`: the two models alone,
as a user's process would hold one): does a process holding the whole group change the
speed-up?  With ``profile_passes`` it puts each row's op profile beside them: the sum of
each op's fastest time, and the whole passes as they ran.
"""
import difflib
import json
import os
import time

from .cpu import cpu_flags

__all__ = ['group_rows', 'resolve_targets', 'order_check', 'time_own_process',
           'format_order_check']

_OWN_PROCESS_CHILD = r'''
import json, sys
from ppdet.benchmark.order_check import time_own_process
print('RESULT ' + json.dumps(time_own_process(**json.loads(sys.argv[1]))))
'''


def group_rows(manifest, config, size):
    """Names of the manifest's rows of ``config`` at ``size`` (manifest order)."""
    names = [n for n, r in manifest['rows'].items()
             if r['config'] == config and int(r['input_size']) == int(size)]
    if not names:
        groups = sorted({'%s:%s' % (r['config'], r['input_size'])
                         for r in manifest['rows'].values()})
        raise ValueError('no built rows for %s:%s (built: %s)' % (config, size, ', '.join(groups)))
    return names


def resolve_targets(names, targets, config, size):
    """Short names (``r578_int8``) or full row names -> full row names of the group; an
    unknown one raises with the close ones."""
    prefix = '%s_%s_' % (config, size)
    short = [n[len(prefix):] if n.startswith(prefix) else n for n in names]
    out = []
    for t in targets:
        if t in names:
            out.append(t)
        elif t in short:
            out.append(names[short.index(t)])
        else:
            close = difflib.get_close_matches(t, short, n=3)
            raise ValueError('--targets: no row %r in %s:%s%s (rows: %s)' % (
                t, config, size, '; did you mean %s?' % ' or '.join(close) if close else '',
                ', '.join(short)))
    return out


def time_own_process(rows, threads=1, rounds=10, warmup=3, pause_s=0.05, child=False):
    """Load ``rows`` ({name: manifest row}) on Paddle and time them interleaved, nothing
    else loaded; ``child``: in a new process (:data:`sys.executable`).  -> {name: median ms}.
    """
    if child:
        from .onednn_ops import run_child
        out = run_child(_OWN_PROCESS_CHILD, [json.dumps(dict(
            rows=rows, threads=threads, rounds=rounds, warmup=warmup, pause_s=pause_s))],
            ', '.join(rows), timeout=1800)
        return json.loads([line for line in out.splitlines()
                           if line.startswith('RESULT ')][-1][len('RESULT '):])
    from ppdet.data.sample_photos import face_photos
    from ppdet.deploy.benchmark import interleaved_latency
    from .full_size import load_cell
    image = face_photos()['astronaut']
    dets = {n: load_cell({'rows': rows}, n, 'paddle', threads, image, warmup)[0] for n in rows}
    try:
        res = interleaved_latency({n: (lambda d=d: d.predict([image])) for n, d in dets.items()},
                                  repeats=rounds, warmup=0, pause_s=pause_s)
    finally:
        for d in dets.values():
            d.close()
    return res['median_ms']


def order_check(manifest, config, size, targets, threads=1, runtimes=('paddle',),
                blocks=3, rounds=6, back_to_back=8, warmup=3, pause_s=None,
                profile_passes=0, progress=print):
    """Load every ``runtimes`` configuration of the group, time ``targets`` (row names,
    Paddle runtime; the group's baseline fp32 row is added) back to back and interleaved,
    close them; then each target beside the baseline in a process of their own
    (:func:`time_own_process`, ``blocks * rounds`` rounds); with ``profile_passes``, op
    profile each target in a child process.  Every pass runs on scikit-image's astronaut
    photo, as in the full-size table.  -> a result dict for :func:`format_order_check`.
    """
    from ppdet.data.sample_photos import face_photos
    from ppdet.deploy.benchmark import check_order_settings, idle_pause_s, order_effect
    from .full_size import is_anchor, load_cell, runtimes_for
    check_order_settings(blocks, rounds, back_to_back)
    names = group_rows(manifest, config, size)
    targets = resolve_targets(names, targets, config, size)
    anchor = next((n for n in names if is_anchor(manifest['rows'][n], 'paddle')), None)
    if anchor is None:
        raise ValueError('%s:%s has no baseline fp32 row to compare against' % (config, size))
    if anchor not in targets:
        targets.append(anchor)
    missing = [t for t in targets if 'paddle' not in runtimes_for(manifest['rows'][t], runtimes)]
    if missing:
        raise ValueError('--targets %s have no Paddle configuration with --runtimes %s'
                         % (missing, ','.join(runtimes)))
    pause_s = idle_pause_s(threads) if pause_s is None else pause_s
    image = face_photos()['astronaut']
    dets = {}
    started = {'date': time.strftime('%Y-%m-%d %H:%M %Z'),
               'load_avg_start': list(os.getloadavg())}
    try:
        for name in names:
            for rt in runtimes_for(manifest['rows'][name], runtimes):
                dets['%s/%s' % (name, rt)] = load_cell(manifest, name, rt, threads, image,
                                                        warmup)[0]
        progress('%s %s: %d configurations loaded, timing %d of them both ways'
                 % (config, size, len(dets), len(targets)))
        effect = order_effect({k: (lambda d=d: d.predict([image])) for k, d in dets.items()},
                              ['%s/paddle' % t for t in targets], blocks=blocks, rounds=rounds,
                              back_to_back=back_to_back, pause_s=pause_s)
    finally:
        for d in dets.values():
            d.close()
    result = dict(started, config=config, input_size=int(size), cpu=cpu_flags(),
                  load_avg_end=list(os.getloadavg()),
                  settings={'threads': int(threads), 'blocks': int(blocks),
                            'rounds': int(rounds), 'back_to_back': int(back_to_back),
                            'warmup': int(warmup), 'pause_s': pause_s,
                            'configurations': sorted(dets), 'profile_passes': int(profile_passes),
                            'omp_num_threads': os.environ.get('OMP_NUM_THREADS')},
                  anchor=anchor, rows={t: effect['%s/paddle' % t] for t in targets})
    base = result['rows'][anchor]['interleaved']['p50_ms']
    for t in targets:
        row = result['rows'][t]
        row['speedup_in_group'] = base / row['interleaved']['p50_ms']
        if t == anchor:
            continue
        progress('%s beside %s in a process of their own' % (t, anchor))
        own = time_own_process({n: manifest['rows'][n] for n in (anchor, t)}, threads,
                               blocks * rounds, warmup, pause_s, child=True)
        row['own_process'] = {'median_ms': own[t], 'anchor_median_ms': own[anchor],
                              'speedup': own[anchor] / own[t]}
    if profile_passes:
        from .op_profile import op_profile
        for t in targets:
            progress('op profile of %s' % t)
            p = op_profile(manifest['rows'][t]['dir'], threads=threads, passes=profile_passes)
            result['rows'][t]['op_profile'] = {'ops_fastest_sum_ms': p['pass_ms'],
                                               'whole_pass_ms': p['whole_pass_ms']}
    return result


def _pause_text(pause_s):
    if pause_s:
        return 'A sleep of %.2f s before each run.' % pause_s
    return ('No sleep between runs: back to back, a row keeps its data in the cache (the warm '
            'time of a video stream).')


def format_order_check(result):
    """Markdown: per target, its median back to back and interleaved, their ratio, the
    fastest runs, and (with profiles) the op profile's two figures."""
    s = result['settings']
    lines = ['# Order effect: %s at %s, %d thread(s)' % (result['config'], result['input_size'],
                                                         s['threads']), '',
             'CPU: %s  ' % result['cpu']['summary'],
             'CPU flags: `%s`  ' % result['cpu']['flags'],
             'Date: %s; load average at start %s, at end %s; OMP_NUM_THREADS=%s.' % (
                 result['date'], '/'.join('%.1f' % x for x in result['load_avg_start']),
                 '/'.join('%.1f' % x for x in result['load_avg_end']), s['omp_num_threads']),
             '',
             'All %d configurations of the group loaded in one process, as the full-size table '
             'times them.  %d blocks; in each, every target runs %d times back to back, then '
             'all configurations run %d interleaved rounds (forward, then reverse order).  '
             '%s  End to end (pre + inference + post), one '
             'photo.  Speed-ups are over %s: in the group\'s interleaved rounds, and with the '
             'two models alone in a new process (%d interleaved rounds).' % (
                 len(s['configurations']), s['blocks'], s['back_to_back'], s['rounds'],
                 _pause_text(s['pause_s']), result['anchor'], s['blocks'] * s['rounds']), '']
    profiled = any('op_profile' in r for r in result['rows'].values())
    head = ('| row | back to back: median (fastest), ms | interleaved: median (fastest), ms | '
            'interleaved / back to back | speed-up in the group | own process: median ms, '
            'speed-up |')
    rule = '|---|---|---|---|---|---|'
    if profiled:
        head += (' op profile: each op\'s fastest, summed (ms) | op profile: whole passes, '
                 'fastest / median (ms) |')
        rule += '---|---|'
    lines += [head, rule]
    for name, r in result['rows'].items():
        b, i = r['back_to_back'], r['interleaved']
        cells = ['%.1f (%.1f)' % (b['p50_ms'], b['min_ms']),
                 '%.1f (%.1f)' % (i['p50_ms'], i['min_ms']), '%.3f' % r['ratio'],
                 '%.2fx' % r['speedup_in_group'],
                 ('%.1f, %.2fx' % (r['own_process']['median_ms'], r['own_process']['speedup'])
                  if 'own_process' in r else '(the baseline)')]
        if profiled:
            p = r.get('op_profile')
            cells += (['%.1f' % p['ops_fastest_sum_ms'], '%.1f / %.1f' % (
                p['whole_pass_ms']['fastest'], p['whole_pass_ms']['median'])] if p
                      else ['-', '-'])
        lines.append('| %s | %s |' % (name, ' | '.join(cells)))
    if profiled:
        lines += ['', 'The op profile (Paddle\'s profiler, %d passes in a process of its own) '
                  'takes each op at its fastest over the passes: their sum is a lower bound '
                  'that no pass reached.  Compare medians with the whole passes.'
                  % s['profile_passes']]
    return '\n'.join(lines) + '\n'
