"""Where an onnxruntime model's time goes, node by node (onnxruntime's own profiler).

The onnxruntime counterpart of :mod:`ppdet.benchmark.onednn_ops`: the same summary (op
type, input data type, execution provider, count, ms, share), so a Paddle oneDNN int8 row
and its onnxruntime int8 twin can be read side by side — which convolutions run in int8 in
each, and what the rest costs.  Kernel times come from ``SessionOptions.enable_profiling``;
each node keeps its fastest time over the timed passes (:func:`fastest_of_passes`).
"""
import json
import os
import tempfile

from .onednn_ops import fastest_of_passes, summarize

__all__ = ['parse_profile', 'ort_records', 'ort_profile']

_DTYPES = {'float': 'f32', 'uint8': 'u8', 'int8': 's8', 'int32': 's32', 'int64': 's64',
           'float16': 'f16', 'bool': 'bool'}


def _dtype(args):
    inputs = args.get('input_type_shape') or [{}]
    name = next(iter(inputs[0]), '?')
    return _DTYPES.get(name, name)


def _shapes(args):
    return [list(next(iter(t.values()), [])) for t in args.get('input_type_shape') or []]


def parse_profile(events):
    """onnxruntime profile events -> one list of records per ``model_run`` (execution
    order): {'primitive' (op type), 'dtype' (first input's type), 'impl' (provider),
    'ms', 'shape' (node name), 'inputs' (the input shapes)}, and the runs' wall times (ms)."""
    runs = sorted((e for e in events if e.get('cat') == 'Session' and
                   e.get('name') == 'model_run'), key=lambda e: e['ts'])
    passes = [[] for _ in runs]
    nodes = sorted((e for e in events if e.get('cat') == 'Node' and
                    e.get('name', '').endswith('_kernel_time')), key=lambda e: e['ts'])
    for e in nodes:
        for i, run in enumerate(runs):
            if run['ts'] <= e['ts'] <= run['ts'] + run['dur']:
                args = e.get('args', {})
                passes[i].append({'primitive': args.get('op_name', '?'), 'dtype': _dtype(args),
                                  'impl': args.get('provider', '?').replace(
                                      'ExecutionProvider', ''),
                                  'ms': e['dur'] / 1e3,
                                  'shape': e['name'][:-len('_kernel_time')],
                                  'inputs': _shapes(args)})
                break
    return passes, [r['dur'] / 1e3 for r in runs]


def ort_records(model_dir, onnx_file=None, threads=1, warmup=3, passes=3, image=None,
                reduce=min):
    """Profile ``passes`` Detector passes of ``model_dir`` on onnxruntime (``onnx_file``:
    e.g. its int8 QDQ model) after ``warmup``; -> (the nodes' records, each at its fastest
    pass (:func:`parse_profile`; or another ``reduce`` of its times), the fastest
    ``model_run`` in ms: nodes + what is between them)."""
    from ppdet.deploy import Detector
    if image is None:
        from ppdet.data.sample_photos import face_photos
        image = face_photos()['astronaut']
    with tempfile.TemporaryDirectory() as tmp:
        det = Detector(model_dir, 'onnx', cpu_threads=threads, onnx_file=onnx_file,
                       profile_prefix=os.path.join(tmp, 'ort'))
        det.warm_up([image], warmup)
        for _ in range(passes):
            det.predict([image])
        path = det.predictor.session.end_profiling()
        with open(path) as f:
            records, runs = parse_profile(json.load(f))
    return fastest_of_passes(records[-passes:], reduce=reduce), min(runs[-passes:])


def ort_profile(model_dir, onnx_file=None, threads=1, warmup=3, passes=3, image=None):
    """:func:`ort_records` as :func:`summarize` of the nodes plus ``run_ms``."""
    records, run_ms = ort_records(model_dir, onnx_file, threads, warmup, passes, image)
    out = summarize(records)
    out['run_ms'] = run_ms
    return out
