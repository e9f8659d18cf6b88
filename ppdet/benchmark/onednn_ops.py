"""Which primitives of a deployed model run in int8 and which in fp32 (oneDNN verbose).

:func:`onednn_profile` runs a model in a child process with ``ONEDNN_VERBOSE=1`` (the
variable must be set before oneDNN loads) and :func:`summarize` groups the ``exec`` lines
of the last timed pass by primitive kind, source data type and implementation, with their
count and time.  What it answers: how much of an int8 model's oneDNN time is still fp32
(output convs kept float, reorders between layouts, element-wise ops around them).
"""
import collections
import os
import re
import subprocess
import sys

__all__ = ['parse_exec_lines', 'summarize', 'run_child', 'timed_pass_records',
           'fastest_of_passes', 'profile_records', 'onednn_profile', 'format_summary']

_CHILD = r'''
import sys
from ppdet.deploy import Detector
from ppdet.data.sample_photos import face_photos
kw = {'enable_mkldnn_bfloat16': True} if sys.argv[6:7] == ['bf16'] else {}
det = Detector(sys.argv[1], sys.argv[2], cpu_threads=int(sys.argv[3]), **kw)
image = face_photos()['astronaut']
det.warm_up([image], int(sys.argv[4]))
for _ in range(int(sys.argv[5]) if len(sys.argv) > 5 else 1):
    print('=== timed pass ===', flush=True)
    det.predict([image])
'''


def parse_exec_lines(lines):
    """``onednn_verbose,exec,...`` lines -> [{'primitive', 'impl', 'dtype', 'ms', 'shape',
    'wei_adjust'}]; ``wei_adjust``: the scale oneDNN put on int8 weights when it reordered
    them (``sa0.5`` in the weights' descriptor: halved, see
    :mod:`ppdet.benchmark.int8_weight_bits`), 1.0 when there is none."""
    out = []
    for line in lines:
        if not line.startswith(('onednn_verbose,exec', 'dnnl_verbose,exec')):
            continue
        f = line.strip().split(',')
        if len(f) < 10:
            continue
        mds = f[6]
        m = re.search(r'(?:src|data)_(\w+?):', mds)
        try:
            ms = float(f[-1])
        except ValueError:
            continue
        adjust = re.search(r'wei_\w+:\S*?:sa([0-9.]+)', mds)
        out.append({'primitive': f[3], 'impl': f[4], 'dtype': m.group(1) if m else '?',
                    'ms': ms, 'shape': f[-2],
                    'wei_adjust': float(adjust.group(1)) if adjust else 1.0})
    return out


def summarize(records):
    """-> rows sorted by time: {'primitive', 'dtype', 'impl', 'count', 'ms', 'share'} and
    the fp32 share of the total oneDNN time."""
    agg = collections.OrderedDict()
    for r in records:
        key = (r['primitive'], r['dtype'], r['impl'])
        a = agg.setdefault(key, {'primitive': key[0], 'dtype': key[1], 'impl': key[2],
                                 'count': 0, 'ms': 0.0})
        a['count'] += 1
        a['ms'] += r['ms']
    total = sum(a['ms'] for a in agg.values()) or 1.0
    rows = sorted(agg.values(), key=lambda a: -a['ms'])
    for a in rows:
        a['share'] = a['ms'] / total
    fp32 = sum(a['ms'] for a in rows if a['dtype'] == 'f32')
    return {'rows': rows, 'total_ms': total, 'fp32_ms': fp32, 'fp32_share': fp32 / total}


def run_child(child_code, args, what, timeout=300, env=None):
    """Run ``child_code`` with ``python -c`` and ``args``; -> its stdout.  A failure raises
    with the end of that output (profilers run in a child: an environment variable that
    must be set before a library loads, or a profiler the timing process must not carry)."""
    proc = subprocess.run([sys.executable, '-c', child_code] + [str(a) for a in args],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError('profile of %s failed (exit %d): %s'
                           % (what, proc.returncode, (proc.stdout + proc.stderr)[-500:]))
    return proc.stdout


def timed_pass_records(child_code, args, what, timeout=300, env=None, reduce=min):
    """Run ``child_code`` (``python -c``, with ``args``) under oneDNN verbose; -> the
    :func:`parse_exec_lines` records printed after its ``=== timed pass ===`` line.  The
    variable must be set before oneDNN loads, hence the child process.

    A child that prints the marker before each of several passes gets each primitive's
    fastest time over the passes (:func:`fastest_of_passes`): one pass on a shared
    machine carries its load.  ``reduce=statistics.median``: each primitive's typical time
    instead (their sum is a typical pass's, to set beside a timing's median)."""
    env = dict(os.environ if env is None else env, ONEDNN_VERBOSE='1', DNNL_VERBOSE='1')
    passes = run_child(child_code, args, what, timeout, env).split('=== timed pass ===')[1:]
    return fastest_of_passes([parse_exec_lines(p.splitlines()) for p in passes],
                             reduce=reduce)


def _primitive(record):
    return record['primitive'], record['shape']


def fastest_of_passes(passes, key=_primitive, reduce=min):
    """Records of several passes of one model -> one pass with each record's minimum
    ``ms`` (or another ``reduce`` of its times, e.g. ``statistics.median``); the last pass
    alone if the passes ran different sequences (by ``key``)."""
    passes = [p for p in passes if p]
    if not passes:
        return []
    sequence = [key(r) for r in passes[-1]]
    if any([key(r) for r in p] != sequence for p in passes):
        return passes[-1]
    return [dict(r, ms=reduce([p[i]['ms'] for p in passes])) for i, r in enumerate(passes[-1])]


def profile_records(model_dir, run_mode='paddle', threads=1, warmup=3, passes=1, timeout=300,
                    bf16=False, reduce=min):
    """oneDNN records of ``model_dir`` (fastest of ``passes`` passes after ``warmup``, or
    another ``reduce`` of each primitive's times); ``bf16``: run it with
    ``enable_mkldnn_bfloat16``."""
    return timed_pass_records(_CHILD, [model_dir, run_mode, threads, warmup, passes,
                                       'bf16' if bf16 else 'fp32'], model_dir, timeout,
                              reduce=reduce)


def onednn_profile(model_dir, run_mode='paddle', threads=1, warmup=3, timeout=300, passes=1,
                   bf16=False):
    """Run ``model_dir`` after ``warmup`` passes with oneDNN verbose; -> summarize()."""
    return summarize(profile_records(model_dir, run_mode, threads, warmup, passes, timeout,
                                     bf16))


def format_summary(name, summary, unit='oneDNN primitives'):
    lines = ['### %s: %.2f ms in %s, %.0f%% of it fp32' % (
        name, summary['total_ms'], unit, 100 * summary['fp32_share']), '',
        '| primitive | source type | implementation | count | ms | share |',
        '|---|---|---|---|---|---|']
    for r in summary['rows']:
        lines.append('| %s | %s | %s | %d | %.2f | %.1f%% |' % (
            r['primitive'], r['dtype'], r['impl'], r['count'], r['ms'], 100 * r['share']))
    return '\n'.join(lines) + '\n'
