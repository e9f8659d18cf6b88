"""The latency sweep: every exported row of the pipeline's ``results.json`` timed on every
CPU runtime that applies to it, all configurations interleaved in one process
(:func:`ppdet.deploy.benchmark.interleaved_latency`), each runtime's detections checked
against the same row's Paddle fp32 model on a few eval images first.

Nothing is dropped quietly: a runtime that fails on a row is recorded with its reason and
listed by :func:`failures`; the report shows it as ``FAILED: <reason>``.
"""
import collections
import os
import time

from ppdet.deploy.compare import DEFAULT_TOLERANCE, detection_agreement

from .cpu import cpu_description, cpu_flags
from .runtimes import (BASELINE_RUNTIME, LITE_NOTE, RUNTIMES, error_line, make_predictor,
                       not_available_here, runtimes_for)
from .seed_tables import STRATEGIES

__all__ = ['table_rows', 'is_quantized', 'latency_sweep', 'failures']


def table_rows(results):
    """-> [(name, row)] in table order: ``results['rows']``, or, from an older results.json,
    baseline / sensity / r578 and then any other entry with an AP."""
    names = results.get('rows')
    if names is None:
        names = [k for k in STRATEGIES if isinstance(results.get(k), dict)]
        names += [k for k, v in results.items()
                  if k not in names and isinstance(v, dict) and 'AP' in v]
    return [(n, results[n]) for n in names if isinstance(results.get(n), dict)]


def is_quantized(row):
    """Whether a row's exported model is quantized (``quantized: true`` in infer_cfg.yml)."""
    from ppdet.deploy.infer_cfg import load_infer_cfg
    d = row.get('inference_dir')
    return bool(d and load_infer_cfg(d).get('quantized'))


class _RowModels(object):
    """One exported row: its inputs and its predictors per runtime (or why one is missing)."""

    def __init__(self, name, row, runtimes, images, calib_images, threads, lite_env, log):
        from ppdet.deploy.infer_cfg import load_infer_cfg
        from ppdet.deploy.preprocess import Preprocessor
        self.name, self.dir, self.log = name, row['inference_dir'], log
        cfg = load_infer_cfg(self.dir)
        self.quantized = bool(cfg.get('quantized'))
        pre = Preprocessor(cfg)
        self.check_feeds = [pre([im]) for im in images]
        self.time_feed = self.check_feeds[0]
        calib = [pre([im]) for im in calib_images] if calib_images else self.check_feeds
        self.reference = 'paddle_float_reference' if self.quantized else 'paddle_fp32'
        self.preds, self.failed, self.unavailable = collections.OrderedDict(), {}, {}
        wanted = runtimes_for(self.quantized, runtimes)
        for rt in ([self.reference] if self.reference not in wanted else []) + wanted:
            tic = time.time()
            try:
                self.preds[rt] = make_predictor(self.dir, rt, threads, calib, lite_env)
                log('  %s / %s: loaded (%.1f s)' % (name, rt, time.time() - tic))
            except Exception as e:  # record why, go on with the other runtimes
                if not_available_here(e):
                    self.unavailable[rt] = error_line(e)
                    log('  %s / %s: not available here (%s)' % (name, rt, self.unavailable[rt]))
                else:
                    self.failed[rt] = error_line(e)
                    log('  %s / %s: FAILED (%s)' % (name, rt, self.failed[rt]))

    def _drop(self, rt, why):
        self.preds.pop(rt).close()
        self.failed[rt] = why
        self.log('  %s / %s: FAILED (%s)' % (self.name, rt, why))

    def check(self, tolerance):
        """Agreement of every runtime with the reference on the check images.

        A runtime is never timed unchecked: without a working reference, or when it fails
        on these images, it moves to ``failed`` with the reason.
        """
        try:
            ref = [self.preds[self.reference].run(f) for f in self.check_feeds]
        except Exception as e:
            why = 'no fp32 reference to check against (%s)' % (
                self.failed.get(self.reference) or self.unavailable.get(self.reference)
                or error_line(e))
            for rt in [rt for rt in self.preds if rt != self.reference]:
                self._drop(rt, why)
            if self.reference in self.preds:
                self._drop(self.reference, error_line(e))
            return {}
        checks = {}
        for rt in [rt for rt in self.preds if rt != self.reference]:
            try:
                runs = [self.preds[rt].run(f) for f in self.check_feeds]
            except Exception as e:
                self._drop(rt, error_line(e))
                continue
            checks[rt] = detection_agreement(ref, runs, tolerance)
        return checks

    def close(self):
        for p in self.preds.values():
            p.close()


def latency_sweep(rows, images, runtimes=tuple(RUNTIMES), threads=1, warmup=3, repeats=20,
                  calib_images=None, pause_s=None, lite_repeats=5, tolerance=None,
                  lite_env=None, progress=None, required=()):
    """Time every exported row on every applicable CPU runtime; check agreement first.

    ``rows``: [(name, row)] (:func:`table_rows`); rows without ``inference_dir`` are listed
    as not exported.  ``images``: RGB eval images: all of them for the agreement check, the
    first one (batch 1) for timing.  ``calib_images``: onnxruntime int8 calibration images
    (default ``images``).  fp32 rows run ``paddle_fp32`` / ``onnx_fp32`` / ``onnx_int8`` /
    ``lite_x86``, quantized ones ``paddle_int8``.  Every runtime's detections are matched to
    the same row's Paddle fp32 model (for a quantized row: its graph with the fake-quant ops
    in float).  All configurations but Lite are timed interleaved in one process; Lite
    (another process, several times slower) is timed after, with ``lite_repeats``.
    Ratios are speed-ups vs the ``baseline`` row's Paddle fp32 median.

    A runtime that breaks on a row (loading, the agreement run, Lite's timing) is recorded
    in the row's ``failed`` with its one-line reason; one that cannot exist on this machine
    (:func:`ppdet.benchmark.runtimes.not_available_here`) in ``unavailable``, which is a
    failure too for the runtimes in ``required``.  ``out['failures']`` lists them all
    (:func:`failures`).
    """
    from ppdet.deploy.benchmark import idle_pause_s
    log = progress or (lambda m: None)
    if pause_s is None:
        pause_s = idle_pause_s(threads)
    unknown = [rt for rt in list(runtimes) + list(required) if rt not in RUNTIMES]
    if unknown:
        raise ValueError('unknown runtime %s; choose from %s' % (unknown, ', '.join(RUNTIMES)))
    if not len(images):
        raise ValueError('latency_sweep needs at least one eval image')
    out = {'settings': {'threads': int(threads), 'warmup': int(warmup), 'repeats': int(repeats),
                        'lite_repeats': int(lite_repeats), 'batch_size': 1,
                        'pause_s': pause_s, 'check_images': len(images),
                        'calib_images': len(calib_images) if calib_images else len(images),
                        'tolerance': dict(DEFAULT_TOLERANCE, **(tolerance or {})),
                        'cpu': cpu_description(), 'cpu_flags': cpu_flags()['flags'],
                        'cpu_count': os.cpu_count(),
                        'date': time.strftime('%Y-%m-%d %H:%M')},
           'runtimes': collections.OrderedDict((k, RUNTIMES[k][0]) for k in runtimes),
           'required': [rt for rt in RUNTIMES if rt in required],
           'rows': collections.OrderedDict(), 'row_order': [n for n, _ in rows]}
    models = []
    try:
        for name, row in rows:
            if not row.get('inference_dir'):
                out['rows'][name] = {'exported': False, 'runtimes': {}, 'failed': {},
                                     'unavailable': {}}
                continue
            log('loading %s (%s)' % (name, row['inference_dir']))
            m = _RowModels(name, row, runtimes, images, calib_images, threads, lite_env, log)
            models.append(m)
            checks = m.check(tolerance)
            out['rows'][name] = {'exported': True, 'inference_dir': m.dir,
                                 'quantized': m.quantized, 'input_size': row.get('input_size'),
                                 'reference': m.reference, 'failed': m.failed,
                                 'unavailable': m.unavailable,
                                 'runtimes': collections.OrderedDict(
                                     (rt, {'agreement': checks.get(rt)})
                                     for rt in m.preds if rt in runtimes)}
            for rt, a in checks.items():
                log('  %s / %s vs %s: %d of %d detections matched (%.0f%%; %d vs %d found)'
                    % (name, rt, m.reference, a['matched'], a['compared'],
                       100 * a['matched_fraction'], a['n'], a['n_ref']))
        _time_all(models, out, warmup, repeats, pause_s, lite_repeats, log)
    finally:
        for m in models:
            m.close()
    _add_ratios(out)
    out['failures'] = failures(out)
    return out


def failures(latency):
    """Every cell that was asked for and has no measurement because something broke:
    [{'row', 'runtime', 'reason'}] in table order.  A runtime that is not available here
    counts only when it was required (``latency['required']``)."""
    required = set(latency.get('required') or ())
    out = []
    for name in latency.get('row_order') or list(latency['rows']):
        r = latency['rows'].get(name, {})
        for rt in RUNTIMES:
            if rt not in (latency.get('runtimes') or RUNTIMES):
                continue
            if rt in r.get('failed', {}):
                out.append({'row': name, 'runtime': rt, 'reason': r['failed'][rt]})
            elif rt in required and rt in r.get('unavailable', {}):
                out.append({'row': name, 'runtime': rt,
                            'reason': 'not available here: ' + r['unavailable'][rt]})
    return out


def _time_all(models, out, warmup, repeats, pause_s, lite_repeats, log):
    from ppdet.deploy.benchmark import interleaved_latency, time_predictor
    timed = collections.OrderedDict()
    for m in models:
        for rt, p in m.preds.items():
            if rt in out['rows'][m.name]['runtimes'] and rt != 'lite_x86':
                timed[(m.name, rt)] = (lambda p=p, f=m.time_feed: p.run(f))
    if timed:
        log('timing %d configurations interleaved: %d rounds after %d warm-up runs each'
            % (len(timed), repeats, warmup))
        res = interleaved_latency(timed, repeats=repeats, warmup=warmup, pause_s=pause_s)
        for key in timed:
            name, rt = key
            out['rows'][name]['runtimes'][rt].update(
                median_ms=res['median_ms'][key], p90_ms=res['p90_ms'][key])
    for m in models:
        row = out['rows'][m.name]
        if 'lite_x86' in m.preds and 'lite_x86' in row['runtimes']:
            log('timing %s / lite_x86 (%d runs)' % (m.name, lite_repeats))
            try:  # another process, which can die on its own
                s = time_predictor(m.preds['lite_x86'], m.time_feed, warmup=min(warmup, 2),
                                   repeats=lite_repeats)
            except Exception as e:
                row['runtimes'].pop('lite_x86')
                row['failed']['lite_x86'] = error_line(e)
                log('  %s / lite_x86: FAILED (%s)' % (m.name, row['failed']['lite_x86']))
                continue
            row['runtimes']['lite_x86'].update(median_ms=s['p50_ms'], p90_ms=s['p90_ms'],
                                               note=LITE_NOTE)


def _add_ratios(out):
    base = out['rows'].get('baseline', {}).get('runtimes', {}).get(BASELINE_RUNTIME, {})
    base_ms = base.get('median_ms')
    out['baseline'] = {'row': 'baseline', 'runtime': BASELINE_RUNTIME, 'median_ms': base_ms}
    for r in out['rows'].values():
        for cell in r['runtimes'].values():
            ms = cell.get('median_ms')
            cell['ratio'] = (base_ms / ms) if (base_ms and ms) else None
