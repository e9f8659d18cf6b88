"""The CPU runtimes the latency sweep times, and how to build a predictor for each.

A runtime can fail to load for two kinds of reasons: it cannot exist on this machine (its
package is not installed, the Paddle-Lite environment is not built: see
:func:`not_available_here`), or it breaks on this model.  The sweep reports the first as
"not available here" and the second as a failure.
"""
import collections

__all__ = ['RUNTIMES', 'BASELINE_RUNTIME', 'LITE_NOTE', 'runtimes_for', 'make_predictor',
           'error_line', 'not_available_here']

# runtime key -> (label, applies to quantized rows?)
RUNTIMES = collections.OrderedDict([
    ('paddle_fp32', ('Paddle fp32 (oneDNN)', False)),
    ('paddle_int8', ('Paddle int8 (oneDNN)', True)),
    ('onnx_fp32', ('onnxruntime fp32', False)),
    ('onnx_int8', ('onnxruntime int8 (QDQ)', False)),
    ('lite_x86', ('Paddle-Lite x86 .nb', False)),
])
BASELINE_RUNTIME = 'paddle_fp32'
LITE_NOTE = 'x86 Lite: a correctness check, not a phone number'


def runtimes_for(quantized, runtimes):
    """The runtimes of ``runtimes`` that apply to a quantized (or an fp32) row."""
    return [rt for rt in runtimes if RUNTIMES[rt][1] == quantized]


def make_predictor(model_dir, runtime, threads, calib_feeds=None, lite_env=None):
    """A predictor for ``runtime`` (a key of :data:`RUNTIMES`, or the quantized rows'
    never-timed ``paddle_float_reference``)."""
    from ppdet.deploy.predictors import PaddlePredictor, create_predictor
    if runtime == 'paddle_fp32':
        return create_predictor(model_dir, 'paddle', cpu_threads=threads)
    if runtime == 'paddle_int8':
        return create_predictor(model_dir, 'paddle', cpu_threads=threads,
                                enable_mkldnn_int8=True)
    if runtime == 'paddle_float_reference':
        # a quantized graph with its fake-quant ops computed in float: the int8 kernels'
        # reference (never timed: slower than fp32)
        return PaddlePredictor(model_dir, cpu_threads=threads, enable_mkldnn=True)
    if runtime == 'onnx_fp32':
        return create_predictor(model_dir, 'onnx', cpu_threads=threads)
    if runtime == 'onnx_int8':
        from ppdet.deploy.onnx import quantize_onnx
        onnx_file = quantize_onnx(model_dir, iter(calib_feeds or []))
        return create_predictor(model_dir, 'onnx', cpu_threads=threads, onnx_file=onnx_file)
    if runtime == 'lite_x86':
        kw = {'lite_env': lite_env} if lite_env else {}
        return create_predictor(model_dir, 'lite', cpu_threads=threads, **kw)
    raise ValueError('unknown runtime %r; choose from %s' % (runtime, ', '.join(RUNTIMES)))


def error_line(e):
    """An exception as one line: its type and the first line of its message."""
    lines = str(e).strip().splitlines() or [type(e).__name__]
    return '%s: %s' % (type(e).__name__, lines[0][:300])


def not_available_here(e):
    """Whether the exception ``e`` (raised while loading a runtime) says the runtime cannot
    exist on this machine, rather than that it failed on the model."""
    from ppdet.deploy.lite import LiteEnvMissing
    from ppdet.deploy.predictors import BackendUnavailable
    if isinstance(e, ModuleNotFoundError):      # a runtime's package, not our own code
        return not (e.name or '').startswith('ppdet')
    return isinstance(e, (BackendUnavailable, LiteEnvMissing))
