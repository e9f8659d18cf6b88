"""How many bits the weights of a deployed oneDNN int8 conv really have on this CPU.

Without VNNI (AVX2, AVX-512 without VNNI) oneDNN multiplies u8 by s8 with ``VPMADDUBSW``,
which adds pairs of products in 16 bits, where they can saturate.  For a conv whose input
is s8 (the input shifted by +128, a compensation term taking it back off) oneDNN avoids
that by halving the weights when it reorders them and doubling the result: its verbose
log shows ``sa0.5`` in the weights' descriptor.  The weights then have 7 bits, not 8.  A
conv whose input is u8 (after ReLU) keeps its 8-bit weights.  With VNNI (``VPDPBUSD``) no
sum is 16-bit and nothing is halved.

Two measurements, both on the deployed kernels:

* :func:`single_conv_probe` reads a deployed conv's weights back.  It quantizes one conv
  (s8 or u8 input) with the project's PTQ, runs it in Paddle Inference's oneDNN int8 path
  on one-hot inputs, one per input channel, and takes each weight from the output.  On an
  AVX2 CPU every weight of the s8 conv comes back even, and every odd stored weight has
  moved by one (up or down; the tie is broken by float error).  The u8 conv returns its
  stored weights exactly.
* :func:`conv_input_types` lists each quantized conv of a model with its deployed input
  type and weight adjustment (oneDNN verbose, in a child process).  Then
  :func:`emulation_copy` writes a copy of the int8 model whose fake-quant simulation
  computes what the CPU deploys: u8 inputs to 255 levels (the simulation's 8 bits give 127
  each side) and the halved convs' stored weights rounded to even integers.  Comparing the
  deployed model with PaddleSlim's simulation, with the u8 one (what a CPU with VNNI
  deploys) and with the halved one says how much of the deployed-vs-simulated gap each
  explains (``benchmarks/int8_weight_bits.py``).
"""
import os
import re
import shutil

import numpy as np

__all__ = ['single_conv_probe', 'conv_input_types', 'emulation_copy', 'halved_weights',
           'readback_summary', 'simulations', 'photo_agreement',
           'PROBE_CHANNELS']

# the probe conv: PROBE_CHANNELS in and out, 3x3, on a PROBE_SIZE square input
PROBE_CHANNELS = 32
PROBE_SIZE = 16

_CHILD = r'''
import sys
import numpy as np
from ppdet.slim.quant_report import _paddle_outputs
shape = [int(s) for s in sys.argv[2].split(',')]
print('=== timed pass ===', flush=True)
_paddle_outputs(sys.argv[1], {'image': np.random.RandomState(0).rand(*shape)}, True)
'''


def _probe_model(model_dir, signed, batch_norm=False):
    """Export one 3x3 conv whose input is the image (s8 in the int8 graph) or its ReLU
    (u8), ``PROBE_CHANNELS`` in and out; with ``batch_norm`` a BatchNorm after it, with
    statistics away from the identity (oneDNN folds it into the conv's weights)."""
    import paddle
    from ppdet.utils.static_graph import forget_failed_traces

    class Probe(paddle.nn.Layer):
        def __init__(self, relu):
            super().__init__()
            self.relu = relu  # an attribute: dy2static does not see the closure
            self.conv = paddle.nn.Conv2D(PROBE_CHANNELS, PROBE_CHANNELS, 3, padding=1,
                                         bias_attr=False if batch_norm else None)
            self.bn = paddle.nn.BatchNorm2D(PROBE_CHANNELS) if batch_norm else None

        def forward(self, image):
            if self.relu:
                image = paddle.nn.functional.relu(image)
            out = self.conv(image)
            return self.bn(out) if self.bn is not None else out

    paddle.seed(1)
    net = Probe(relu=not signed)
    if batch_norm:
        rng = np.random.RandomState(1)
        bn = net.bn
        bn._mean.set_value((rng.randn(PROBE_CHANNELS) * 0.1).astype('float32'))
        bn._variance.set_value((rng.rand(PROBE_CHANNELS) * 2 + 0.2).astype('float32'))
        bn.weight.set_value((rng.rand(PROBE_CHANNELS) + 0.5).astype('float32'))
        bn.bias.set_value((rng.randn(PROBE_CHANNELS) * 0.1).astype('float32'))
    net.eval()
    spec = paddle.static.InputSpec([None, PROBE_CHANNELS, PROBE_SIZE, PROBE_SIZE], 'float32',
                                   'image')
    forget_failed_traces()
    paddle.jit.save(net, os.path.join(str(model_dir), 'model'), input_spec=[spec])


def _conv_scales(program, scope):
    """-> (stored integer weights, per-output-channel gain after the conv (the BatchNorm's
    gamma / sqrt(var + eps), else 1), per-channel weight scale, input scale) of the one
    quantized conv of a probe's int8 program."""
    block = program.global_block()
    ops = {op.type: op for op in block.ops}
    get = lambda name: np.array(scope.find_var(name).get_tensor())  # noqa: E731
    conv = ops['conv2d']
    dequant = ops['fake_channel_wise_dequantize_max_abs']
    act = next(op for op in block.ops if op.type.startswith('fake_quantize'))
    stored = get(conv.input('Filter')[0])
    gain = np.ones(stored.shape[0])
    if 'batch_norm' in ops:
        bn = ops['batch_norm']
        gain = get(bn.input('Scale')[0]).astype(np.float64) / np.sqrt(
            get(bn.input('Variance')[0]).astype(np.float64) + bn.attr('epsilon'))
    return (stored, gain, get(dequant.input('Scales')[0]),
            float(get(act.input('InScale')[0]).ravel()[0]))


def readback_summary(stored, deployed):
    """Stored integer weights vs the weights read back from the deployed kernel -> the
    fractions equal, even, and of the odd stored ones moved; ``bits``: 8 when all equal, 7
    when every deployed weight is even and within one of its stored value."""
    diff = deployed - stored
    odd = stored % 2 != 0
    even = float(np.mean(deployed % 2 == 0))
    equal = float(np.mean(diff == 0))
    bits = 8 if equal == 1.0 else (7 if even == 1.0 and np.abs(diff).max() <= 1 else None)
    return {'weights': int(stored.size), 'equal_to_stored': round(equal, 4),
            'even': round(even, 4), 'odd_stored': round(float(odd.mean()), 4),
            'odd_moved_up': round(float(np.mean(diff[odd] > 0)) if odd.any() else 0.0, 4),
            'odd_moved_down': round(float(np.mean(diff[odd] < 0)) if odd.any() else 0.0, 4),
            'max_abs_diff': int(np.abs(diff).max()), 'bits': bits}


def single_conv_probe(work_dir, signed, batch_norm=False, calib_images=4):
    """Quantize a one-conv model (s8 input if ``signed``, else u8; ``batch_norm``: a
    BatchNorm after the conv) with the project's PTQ (abs_max) and read the deployed
    kernel's weights back with one-hot inputs.

    -> :func:`readback_summary` plus ``input`` ('s8' / 'u8'), ``batch_norm``,
    ``wei_adjust`` (from oneDNN verbose), ``equal_to_halved_emulation`` (the fraction of
    weights :func:`halved_weights` predicts) and ``max_fraction_error`` (how far the
    read-back values are from integers: near 0 when the readback is exact)."""
    from ppdet.slim.quant import run_ptq
    from ppdet.slim.quant_report import _paddle_outputs
    from ppdet.utils.static_graph import load_program
    kind = ('s8' if signed else 'u8') + ('_bn' if batch_norm else '')
    fp32_dir = os.path.join(str(work_dir), kind, 'fp32')
    int8_dir = os.path.join(str(work_dir), kind, 'int8')
    shutil.rmtree(os.path.join(str(work_dir), kind), ignore_errors=True)
    _probe_model(fp32_dir, signed, batch_norm)
    rng = np.random.RandomState(0)
    feeds = [{'image': rng.randn(PROBE_CHANNELS, PROBE_SIZE, PROBE_SIZE).astype('float32')}
             for _ in range(int(calib_images))]
    run_ptq(fp32_dir, feeds, int8_dir, algo='abs_max')
    prog, _, _, scope = load_program(int8_dir)
    stored, gain, channel_scale, threshold = _conv_scales(prog, scope)
    qmax = 127 if signed else 255
    # one image per input channel, that channel's centre pixel at the threshold: it is
    # quantized to qmax, and the output around the centre, less the output for a zero
    # image (the last one), is qmax times the weights
    c, n = PROBE_SIZE // 2, PROBE_CHANNELS
    x = np.zeros((n + 1, n, PROBE_SIZE, PROBE_SIZE), 'float32')
    x[np.arange(n), np.arange(n), c, c] = threshold
    out = _paddle_outputs(int8_dir, {'image': x}, True)[0]
    unit = gain * (threshold / qmax) * (channel_scale / 127.0)  # one accumulator step
    acc = (out[:n] - out[n:]) / unit[None, :, None, None] / qmax
    k = stored.shape[-1]
    # out[i, o, c + 1 - kh, c + 1 - kw] = w[o, i, kh, kw] * qmax (3x3, padding 1)
    window = acc[:, :, c + 1 - np.arange(k)][:, :, :, c + 1 - np.arange(k)]  # [i,o,kh,kw]
    read = window.transpose(1, 0, 2, 3)
    deployed = np.rint(read)
    records = _probe_records(int8_dir, x[:1].shape)
    convs = [r for r in records if r['primitive'] == 'convolution']
    res = readback_summary(stored, deployed)
    # does the emulation of the halving (used by emulation_copy) round as the kernel did?
    res['equal_to_halved_emulation'] = round(float(np.mean(
        halved_weights(stored, channel_scale) == deployed)), 4)
    res.update(input=kind[:2], batch_norm=bool(batch_norm),
               wei_adjust=convs[0]['wei_adjust'] if convs else None,
               impl=convs[0]['impl'] if convs else None,
               max_fraction_error=round(float(np.abs(read - deployed).max()), 6))
    return res


def _probe_records(model_dir, shape, timeout=300):
    """oneDNN verbose records of one pass of a probe model on a random ``shape`` input."""
    from ppdet.benchmark.onednn_ops import timed_pass_records
    return timed_pass_records(_CHILD, [model_dir, ','.join(str(int(s)) for s in shape)],
                              model_dir, timeout)


def _problem_dims(shape):
    """oneDNN's conv problem ``mb1_g32ic32oc32_ih16..kh3..kw3..`` -> (ic, oc, kh, kw)."""
    get = lambda key: int(re.search(key + r'(\d+)', shape).group(1))  # noqa: E731
    kh = get('kh')
    kw = get('kw') if re.search(r'kw\d', shape) else kh
    return get('ic'), get('oc'), kh, kw


# ops whose output is non-negative when their inputs are (ReLU's always is): a u8 tensor
# stays u8 through them in oneDNN's int8 graph
_KEEPS_SIGN = ('pool2d', 'nearest_interp', 'nearest_interp_v2', 'bilinear_interp',
               'bilinear_interp_v2', 'concat', 'reshape2', 'transpose2', 'split')


def _non_negative(var, producers):
    """Is ``var`` non-negative by construction (ReLU, or ops over ReLU outputs only)?"""
    op = producers.get(var)
    if op is None:
        return False  # a feed: the normalized image is signed
    if op.type in ('relu', 'relu6'):
        return True
    return op.type in _KEEPS_SIGN and all(_non_negative(v, producers) for v in op.input('X'))


def conv_input_types(int8_dir):
    """Each quantized conv of an int8 model as oneDNN deploys it on this CPU:
    [{'weight', 'input' ('s8' / 'u8'), 'wei_adjust', 'impl'}] in graph order.

    One pass of the exported detector under oneDNN verbose (a photo, as
    :func:`ppdet.benchmark.onednn_ops.profile_records` runs it).  Each program conv takes an
    int8 conv primitive of its own problem size (in, out channels, kernel), in order.
    oneDNN's order is not always the program's: the two convs that replace a concat (one
    reading the upsampled, signed branch, one a ReLU output) have one size and may run in
    either order, so where the primitives of one size differ in input type the convs whose
    input is non-negative by construction (:func:`_non_negative`) take the u8 ones.  A size
    or a type whose counts differ between the two sides raises: the match would be a
    guess."""
    import collections
    from ppdet.benchmark.onednn_ops import profile_records
    from ppdet.slim.quant_report import _OP_INPUT_SLOT, _trace_back, quantizable_ops
    from ppdet.utils.static_graph import load_program, op_producers
    prog, _, _, scope = load_program(int8_dir)
    producers = op_producers(prog.global_block())
    prims = collections.defaultdict(list)  # problem size -> primitives in order
    for rec in profile_records(int8_dir, warmup=1):
        if rec['primitive'] == 'convolution' and rec['dtype'] in ('s8', 'u8'):
            prims[_problem_dims(rec['shape'])].append(rec)
    convs = collections.defaultdict(list)  # problem size -> (position, weight, u8 expected)
    n = 0
    for op, weight, _ in quantizable_ops(prog):
        src, quant = _trace_back(op.input(_OP_INPUT_SLOT[op.type])[0], producers) \
            if op.type.endswith('conv2d') else (None, None)
        if quant is None:
            continue
        shape = np.array(scope.find_var(weight).get_tensor()).shape
        dims = (shape[1] * int(op.attr('groups') or 1), shape[0], shape[2], shape[3])
        convs[dims].append((n, weight, _non_negative(src, producers)))
        n += 1
    out = [None] * n
    for dims in set(convs) | set(prims):
        mine, ran = convs.get(dims, []), prims.get(dims, [])
        if len(mine) != len(ran):
            raise RuntimeError('%s: %d quantized convs of size %s in the program but %d int8 '
                               'conv primitives ran; cannot match them'
                               % (int8_dir, len(mine), dims, len(ran)))
        if len({r['dtype'] for r in ran}) > 1:  # by expected input type, then in order
            ran = ([r for r in ran if r['dtype'] == 'u8'] + [r for r in ran if r['dtype'] == 's8'])
            mine = [c for c in mine if c[2]] + [c for c in mine if not c[2]]
            if sum(c[2] for c in mine) != sum(r['dtype'] == 'u8' for r in ran):
                raise RuntimeError('%s: the convs of size %s take u8 and s8 inputs, but not '
                                   'as their sources say; cannot match them' % (int8_dir, dims))
        for (i, weight, _), rec in zip(mine, ran):
            out[i] = {'weight': weight, 'input': rec['dtype'], 'wei_adjust': rec['wei_adjust'],
                      'impl': rec['impl']}
    return out


def halved_weights(stored, channel_scale):
    """The s8 weights oneDNN holds for stored integer weights ``stored`` ([out, ...]) with
    per-output-channel scale ``channel_scale`` when it halves them, doubled back to the
    stored grid.  The arithmetic is float32, in the order that reproduced the deployed
    kernel's rounding of every tie (an odd stored weight halves to k + 0.5) on the probe:
    the weight dequantized (w / 127 * scale), its channel's scale recomputed
    (127 * (1 / max |w|)), multiplied by both and by 0.5, rounded to nearest even.  With a
    BatchNorm after the conv (oneDNN folds it into the weights first) the same rule
    predicted 87% of the probe's 9216 weights: the fold's float order breaks the other ties
    (about half up, half down as well), and it was not reproduced."""
    f = np.float32
    shape = (-1,) + (1,) * (stored.ndim - 1)
    w = stored.astype(f) / f(127) * np.asarray(channel_scale, f).reshape(shape)
    peak = np.abs(w).reshape(w.shape[0], -1).max(1).reshape(shape)
    scale = f(127) * (f(1) / np.where(peak > 0, peak, f(1)))
    return 2 * np.rint(w * scale * f(0.5))


def _channel_scales(program, scope):
    """weight name -> its per-output-channel scale (the ``Scales[0]`` of the channel-wise
    dequantize op after its conv), for the convs of an ``onnx_format=False`` int8 model."""
    from ppdet.slim.quant_report import _OP_OUTPUT_SLOT, _OP_WEIGHT_SLOT
    from ppdet.utils.static_graph import op_consumers
    block = program.global_block()
    consumers = op_consumers(block)
    out = {}
    for op in block.ops:
        if op.type not in _OP_WEIGHT_SLOT or op.type not in _OP_OUTPUT_SLOT:
            continue
        for nxt in consumers.get(op.output(_OP_OUTPUT_SLOT[op.type])[0], []):
            if nxt.type == 'fake_channel_wise_dequantize_max_abs':
                name = nxt.input('Scales')[0]
                out[op.input(_OP_WEIGHT_SLOT[op.type])[0]] = np.array(
                    scope.find_var(name).get_tensor())
    return out


def emulation_copy(int8_dir, out_dir, halved=(), unsigned=()):
    """Copy an int8 model (``onnx_format=False``: integer weights stored as floats, per
    channel) to ``out_dir`` changed so that its fake-quant simulation computes what oneDNN
    deploys: the stored weights named in ``halved`` replaced by :func:`halved_weights`, and
    the input of each conv named (by weight) in ``unsigned`` quantized as u8, to 255 levels
    (oneDNN's u8 after ReLU; the simulation's 8 bits are 127 levels each side): its
    fake-quantize op gets 9 bits and the dequantize ops after the convs it feeds get that
    activation width.  -> ``out_dir``."""
    from ppdet.slim.quant_report import _OP_INPUT_SLOT, _OP_OUTPUT_SLOT, _OP_WEIGHT_SLOT
    from ppdet.utils.static_graph import (load_program, op_consumers, op_producers,
                                          save_program)
    shutil.rmtree(str(out_dir), ignore_errors=True)
    shutil.copytree(str(int8_dir), str(out_dir))
    prog, feeds, fetches, scope = load_program(out_dir)
    scales = _channel_scales(prog, scope)
    for name in halved:
        tensor = scope.find_var(name).get_tensor() if name in scales else None
        w = np.array(tensor) if tensor is not None else None
        if w is None or not np.array_equal(w, np.rint(w)):
            raise ValueError('%s in %s is not a per-channel integer weight: not an '
                             'onnx_format=False int8 model' % (name, int8_dir))
        tensor.set(halved_weights(w, scales[name]).astype(w.dtype), _place())
    block = prog.global_block()
    producers, consumers = op_producers(block), op_consumers(block)
    convs = {op.input(_OP_WEIGHT_SLOT[op.type])[0]: op for op in block.ops
             if op.type in ('conv2d', 'depthwise_conv2d')}
    for name in unsigned:
        quant = producers.get(convs[name].input(_OP_INPUT_SLOT[convs[name].type])[0]) \
            if name in convs else None
        if quant is None or not quant.type.startswith('fake_quantize'):
            raise ValueError('%s in %s is not a conv with a quantized input' % (name, int8_dir))
        quant._set_attr('bit_length', 9)
        for conv in consumers[quant.output('Out')[0]]:
            for nxt in consumers.get(conv.output(_OP_OUTPUT_SLOT[conv.type])[0], []):
                if nxt.type == 'fake_channel_wise_dequantize_max_abs':
                    nxt._set_attr('quant_bits', [nxt.attr('quant_bits')[0], 9])
    save_program(out_dir, prog, feeds, fetches, scope)
    return str(out_dir)


def simulations(int8_dir, work_dir):
    """The three simulations of an int8 model, by name: ``sim8`` (PaddleSlim's: the model
    itself), ``sim_u8`` (u8 inputs at 255 levels, what a VNNI CPU deploys) and ``sim_cpu``
    (that with the weights this CPU halves halved; ``sim_u8``'s copy where none is), the
    copies written under ``work_dir`` (:func:`emulation_copy`).  -> (the model's convs as
    :func:`conv_input_types` lists them, {name: model dir})."""
    convs = conv_input_types(int8_dir)
    halved = [c['weight'] for c in convs if c['wei_adjust'] != 1.0]
    unsigned = [c['weight'] for c in convs if c['input'] == 'u8']
    dirs = {'sim8': int8_dir, 'sim_u8': emulation_copy(
        int8_dir, os.path.join(str(work_dir), 'sim_u8'), (), unsigned)}
    dirs['sim_cpu'] = emulation_copy(int8_dir, os.path.join(str(work_dir), 'sim_cpu'), halved,
                                     unsigned) if halved else dirs['sim_u8']
    return convs, dirs


def photo_agreement(fp32_dir, int8_dir, images, work_dir):
    """The int8 model's detections on ``images`` (RGB uint8) matched to its fp32 parent's
    (:func:`ppdet.benchmark.full_size.matched_share`, as the full-size table's int8
    agreement): deployed, and each of :func:`simulations` (copies under ``work_dir``).
    -> {'convs', 'convs_halved', 'detections' (fp32's), and each run's agreement}."""
    from ppdet.benchmark.full_size import matched_share
    from ppdet.deploy import Detector
    convs, sims = simulations(int8_dir, work_dir)
    runs = {}  # (model dir, simulated) -> detections: sim_cpu is sim_u8 where none is halved

    def run(model_dir, simulate=False):
        if (model_dir, simulate) not in runs:
            kw = dict(enable_mkldnn=False, enable_mkldnn_int8=False) if simulate else {}
            det = Detector(model_dir, cpu_threads=1, **kw)
            runs[model_dir, simulate] = [det.predict([im])[0] for im in images]
        return runs[model_dir, simulate]

    fp32 = run(fp32_dir)
    out = {'convs': len(convs), 'convs_halved': sum(c['wei_adjust'] != 1.0 for c in convs),
           'detections': int(sum(len(r) for r in fp32)),
           'deployed': round(100 * matched_share(fp32, run(int8_dir)), 1)}
    for name, d in sims.items():
        out[name] = round(100 * matched_share(fp32, run(d, simulate=True)), 1)
    return out


def _place():
    import paddle
    return paddle.CPUPlace()
