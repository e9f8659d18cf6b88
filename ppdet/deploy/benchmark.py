"""Latency and memory measurement for predictors.

``time_predictor`` times one configuration.  ``interleaved_latency`` compares several in
one process the way the speed table was measured: configurations alternate round by
round (forward, then reverse order) with a sleep between them, because idle OpenMP /
onnxruntime threads keep spinning after a run and steal the CPU from whatever is timed
next, and because machine load drifts over minutes.  ``idle_pause_s`` says how long that
sleep must be.  ``order_effect`` checks the method itself: whether a configuration timed
between the others is slower than the same one timed back to back.
"""
import contextlib
import time

import numpy as np

from .memory import peak_rss_mb  # noqa: F401  (part of this module's API)

__all__ = ['latency_stats', 'time_predictor', 'StageTimer', 'interleaved_latency',
           'speedup_ratios', 'peak_rss_mb', 'stage_split', 'STAGES', 'idle_pause_s',
           'order_effect', 'check_order_settings', 'paired_ratio_interval']

STAGES = ('preprocess', 'inference', 'postprocess')


def latency_stats(samples_ms):
    s = np.asarray(samples_ms, np.float64)
    if not len(s):
        return {'count': 0, 'mean_ms': 0.0, 'p50_ms': 0.0, 'p90_ms': 0.0, 'min_ms': 0.0}
    return {'count': int(len(s)), 'mean_ms': float(s.mean()),
            'p50_ms': float(np.percentile(s, 50)), 'p90_ms': float(np.percentile(s, 90)),
            'min_ms': float(s.min())}


def _as_call(pred, inputs):
    run = getattr(pred, 'run', pred)
    return lambda: run(inputs)


def time_predictor(pred, inputs, warmup=10, repeats=50):
    """Run ``pred.run(inputs)`` (or ``pred(inputs)``) ``warmup`` + ``repeats`` times.

    -> mean / p50 / p90 / min latency in ms over the timed runs and the peak resident
    memory of the process running the model.
    """
    call = _as_call(pred, inputs)
    for _ in range(int(warmup)):
        call()
    samples = []
    for _ in range(int(repeats)):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1e3)
    stats = latency_stats(samples)
    memory = getattr(pred, 'peak_memory_mb', None)
    stats['peak_rss_mb'] = float(memory() if memory else peak_rss_mb())
    return stats


class StageTimer(object):
    """Per-stage wall times: ``with timer.stage('inference'): ...``; ``summary()`` -> stats."""

    def __init__(self):
        self.samples = {}

    @contextlib.contextmanager
    def stage(self, name):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.samples.setdefault(name, []).append((time.perf_counter() - t0) * 1e3)

    def summary(self):
        return {name: latency_stats(s) for name, s in self.samples.items()}


def stage_split(summary):
    """A :meth:`StageTimer.summary` of Detector runs -> the pre / inference / post split.

    -> {'<stage>_ms': mean, '<stage>_share': mean / end-to-end mean, 'end_to_end_ms',
    'stages_sum_ms' (the three means added: the end-to-end mean less the few microseconds
    between stages), 'pre_post_share'}.  Means, not medians: means add up.
    """
    e2e = summary.get('end_to_end', {}).get('mean_ms')
    out = {}
    for st in STAGES:
        out[st + '_ms'] = summary.get(st, {}).get('mean_ms', 0.0)
    out['stages_sum_ms'] = sum(out[st + '_ms'] for st in STAGES)
    out['end_to_end_ms'] = e2e if e2e is not None else out['stages_sum_ms']
    for st in STAGES:
        out[st + '_share'] = out[st + '_ms'] / out['end_to_end_ms'] if out['end_to_end_ms'] else 0.
    out['pre_post_share'] = out['preprocess_share'] + out['postprocess_share']
    return out


def speedup_ratios(medians, baseline):
    """-> {name: medians[baseline] / medians[name]}: > 1 means faster than the baseline."""
    if baseline not in medians:
        raise ValueError('baseline %r is not one of the measured configurations %s'
                         % (baseline, sorted(medians)))
    base = float(medians[baseline])
    return {name: (base / float(m) if m > 0 else float('inf')) for name, m in medians.items()}


def idle_pause_s(threads):
    """Seconds to sleep before each timed run of an interleaved comparison at ``threads``.

    Paddle's CPU build runs its threads on Intel OpenMP (``libiomp5``), whose workers keep
    spinning for ``KMP_BLOCKTIME`` (200 ms by default) after each parallel region.  With one
    thread there are no workers and 50 ms covers onnxruntime's short spin.  With more, a
    50 ms pause left Paddle's workers spinning into the next configuration's run: measured
    on YOLOv3-MobileNetV1 at 320, 2 threads on 2 cores, onnxruntime fp32 took 121.5 ms after
    a 50 ms pause and 80.7 ms after 300 ms; Paddle fp32 took 82.2 and 73.4 ms.

    The pause makes each run a cold-cache one: on a shared host the model's data leaves the
    L3 within ~50 ms (r578@32 + int8 at 320 on the AMX CPU: +2 ms, 17%), and timing back to
    back (0) gives the warm time instead (docs/full_size_latency.md).
    """
    return 0.05 if int(threads) <= 1 else 0.3


def interleaved_latency(predictors, repeats=20, warmup=3, baseline=None, pause_s=0.05):
    """Time several configurations alternately in one process.

    ``predictors``: dict name -> zero-argument callable running one inference.  Each
    of ``repeats`` rounds runs every configuration once, in forward order on even
    rounds and reverse order on odd ones, sleeping ``pause_s`` before each so spinning
    worker threads of the previous runtime go idle.  Returns ``median_ms``, ``p90_ms``,
    ``samples_ms`` per name and, with ``baseline``, ``ratios`` (speed-up vs it).
    """
    names = list(predictors)
    if not names:
        raise ValueError('no configurations to time')
    for name in names:
        for _ in range(int(warmup)):
            predictors[name]()
    samples = {n: [] for n in names}
    for r in range(int(repeats)):
        for name in (names if r % 2 == 0 else names[::-1]):
            if pause_s:
                time.sleep(pause_s)
            t0 = time.perf_counter()
            predictors[name]()
            samples[name].append((time.perf_counter() - t0) * 1e3)
    result = {'median_ms': {n: float(np.median(s)) for n, s in samples.items()},
              'p90_ms': {n: float(np.percentile(s, 90)) for n, s in samples.items()},
              'samples_ms': samples, 'repeats': int(repeats)}
    if baseline is not None:
        result['baseline'] = baseline
        result['ratios'] = speedup_ratios(result['median_ms'], baseline)
        result['ratio_interval'] = paired_ratio_interval(samples, baseline)
    return result


def paired_ratio_interval(samples, baseline, confidence=0.95, resamples=2000, seed=0):
    """How sure a speed-up is: per round, the baseline's time over each configuration's
    (the two ran seconds apart, so the machine's drift over minutes cancels), then a
    bootstrap interval of those ratios' median.  ``samples``: {name: [ms per round]}, round
    ``i`` of every name from the same round.  -> {name: [low, high]} (fixed seed)."""
    if baseline not in samples:
        raise ValueError('baseline %r is not one of the measured configurations %s'
                         % (baseline, sorted(samples)))
    base = np.asarray(samples[baseline], np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(base), size=(int(resamples), len(base)))
    tail = 50.0 * (1.0 - confidence)
    out = {}
    for name, s in samples.items():
        s = np.asarray(s, np.float64)
        if len(s) != len(base):
            raise ValueError('%s has %d rounds, the baseline %d: not paired'
                             % (name, len(s), len(base)))
        medians = np.median((base / s)[picks], axis=1)
        out[name] = [float(np.percentile(medians, tail)),
                     float(np.percentile(medians, 100.0 - tail))]
    return out


def check_order_settings(blocks, rounds, back_to_back):
    """Refuse counts that would leave :func:`order_effect` without samples (before a caller
    spends minutes loading models)."""
    for name, n in (('blocks', blocks), ('rounds', rounds), ('back_to_back', back_to_back)):
        if int(n) < 1:
            raise ValueError('order_effect: --%s must be at least 1, got %s' % (name, n))


def order_effect(predictors, targets, blocks=3, rounds=6, back_to_back=8, pause_s=0.05):
    """Does timing a configuration between the others (as :func:`interleaved_latency` does)
    change its latency?  In one process, ``blocks`` times: each of ``targets`` runs
    ``back_to_back`` times in a row, then every configuration runs ``rounds`` interleaved
    rounds.  Alternating the two in blocks puts the machine's drift on both sides.

    Other configurations run in between can evict the target's weights from the caches, or
    its primitives from oneDNN's cache; back to back, nothing does.  -> {target:
    {'back_to_back': latency_stats + samples, 'interleaved': ..., 'ratio': interleaved
    median / back-to-back median}} (1.0: no effect)."""
    missing = [t for t in targets if t not in predictors]
    if missing:
        raise ValueError('order_effect: %s not among the configurations %s'
                         % (missing, sorted(predictors)))
    check_order_settings(blocks, rounds, back_to_back)
    samples = {t: {'back_to_back': [], 'interleaved': []} for t in targets}
    for _ in range(int(blocks)):
        for t in targets:   # one configuration 'interleaved' with itself: back to back
            samples[t]['back_to_back'] += interleaved_latency(
                {t: predictors[t]}, repeats=back_to_back, warmup=0,
                pause_s=pause_s)['samples_ms'][t]
        res = interleaved_latency(predictors, repeats=rounds, warmup=0, pause_s=pause_s)
        for t in targets:
            samples[t]['interleaved'] += res['samples_ms'][t]
    out = {}
    for t in targets:
        out[t] = {k: dict(latency_stats(v), samples_ms=v) for k, v in samples[t].items()}
        out[t]['ratio'] = out[t]['interleaved']['p50_ms'] / out[t]['back_to_back']['p50_ms']
    return out
