"""Make Paddle Inference's oneDNN int8 graph compute what PaddleSlim simulated.

A post-training-quantized model (``onnx_format=False``) simulates int8 only at the inputs
of the quantized convs: a ``fake_quantize_*`` op clips and rounds the activation with the
calibrated scale, everything else (BN, bias and residual adds, activations, pooling,
upsampling, concat, decoding) is float.  PaddleSlim also writes an ``out_threshold``
attribute on every op it saw during calibration, from the same algorithm (KL, mse, hist
clip hard), and oneDNN's int8 passes (``Quant2Int8MkldnnPass``, ``cpu_quantize_pass``)
treat every tensor with a threshold as one to keep in int8: conv outputs before BN,
residual adds, concats, pools.  Each of those is a clip and a rounding the simulation
never made.  Measured on the built-in YOLOv3 (KL, 16 val images; the per-layer deployed
report, ``ppdet.slim.quant_report.deployed_layer_report``): the deployed model matched its
own simulation on 15% of detections; the first departing layer was the first residual
block (deployed vs simulated 14 dB against ~33 dB before it), where the BN outputs and the
add were clipped at their KL thresholds.  A family that decodes with plain ops had it
worse: BlazeFace's prior-box concats, slices and multiplies carried thresholds too, and
Paddle 2.6.2 refused to load its int8 model (``cpu_quantize_squash_pass``: "The operator
after requantize should have input scale(0.000000) equal to requantize output scale"; it
takes concat, slice and elementwise_mul enabled together).  With the thresholds aligned
those ops run fp32 and the built-in BlazeFace's deployed int8 AP equals fp32's.

:func:`align_output_thresholds` keeps exactly the scales the simulation uses: an op's
``out_threshold`` becomes the scale of the fake-quantize op that reads its output (the
tensor is a conv input, quantized with that scale in both graphs, so the conv before it
may write int8 directly) and is removed everywhere else (that tensor stays fp32, as
simulated).  What still differs, by design of oneDNN: BN folded into the conv weights
(re-quantized per channel: the same integers), and tensors after ReLU held as u8 (twice
the simulation's resolution, so the deployed model is if anything closer to fp32).

One scale the simulation does not use is kept on purpose: the output of a conv whose sum
with another conv replaced a concat (:func:`ppdet.deploy.program_fixes.split_concat_convs`).
oneDNN adds it into the other conv as a residual input, and ``cpu_quantize_pass``
quantizes a conv with a residual only when the residual has a scale (without one that conv
runs fp32).  :func:`keep_residual_scales` sets it from the calibrated ``Out0_threshold``:
the partial sum is rounded once to int8, the price of dropping the concat's
dequantize + quantize round trip.
"""
import glob
import os

import numpy as np

__all__ = ['align_output_thresholds', 'keep_residual_scales', 'THRESHOLD_ATTR']

THRESHOLD_ATTR = 'out_threshold'
# the activation fake-quantize ops of the onnx_format=False graph and their scale input
_ACT_QUANT_SCALE = {'fake_quantize_range_abs_max': 'InScale',
                    'fake_quantize_moving_average_abs_max': 'InScale',
                    'fake_quantize_abs_max': None,
                    'fake_quantize_dequantize_moving_average_abs_max': 'InScale'}


def _model_file(model_dir):
    files = sorted(glob.glob(os.path.join(str(model_dir), '*.pdmodel')))
    if len(files) != 1:
        raise FileNotFoundError('expected one .pdmodel file in %s, found %d'
                                % (model_dir, len(files)))
    return files[0]


def _conv_input_scales(model_dir):
    """{tensor: scale} of the activations a fake-quantize op quantizes (conv inputs)."""
    from ppdet.slim.quant_report import load_program
    prog, _, _, scope = load_program(model_dir)
    out = {}
    for op in prog.global_block().ops:
        slot = _ACT_QUANT_SCALE.get(op.type)
        if slot and op.input(slot):
            value = np.array(scope.find_var(op.input(slot)[0]).get_tensor()).reshape(-1)
            out[op.input('X')[0]] = float(value[0])
    return out


def align_output_thresholds(model_dir):
    """Rewrite ``model_dir``'s program in place (atomically) so oneDNN int8 uses only the
    simulated scales (see the module doc).  -> {'kept': n, 'removed': {op type: n}}."""
    from paddle.framework import core
    from ppdet.utils.fileio import atomic_write
    scales = _conv_input_scales(model_dir)
    path = _model_file(model_dir)
    with open(path, 'rb') as f:
        desc = core.ProgramDesc(f.read())
    block = desc.block(0)
    kept, removed = 0, {}
    for i in range(block.op_size()):
        op = block.op(i)
        if not op.has_attr(THRESHOLD_ATTR):
            continue
        outs = [n for n in op.output_arg_names() if n in scales]
        if outs:
            op._set_attr(THRESHOLD_ATTR, scales[outs[0]])
            kept += 1
        else:
            op.remove_attr(THRESHOLD_ATTR)
            removed[op.type()] = removed.get(op.type(), 0) + 1
    data = desc.serialize_to_string()
    atomic_write(path, lambda f: f.write(data), mode='wb')
    return {'kept': kept, 'removed': removed}


def _sum_of_convs(op, producers):
    """The two bias adds (one per conv) ``op`` sums, when it sums two biased convs."""
    if op.type() != 'elementwise_add' or op.attr('axis') != -1:
        return None
    adds = [producers.get(op.input('X')[0]), producers.get(op.input('Y')[0])]
    if any(a is None or a.type() != 'elementwise_add' or a.attr('axis') != 1 for a in adds):
        return None
    return adds


def keep_residual_scales(model_dir):
    """Give the conv outputs that a sum of two convs adds (a split concat) the calibrated
    scale (``Out0_threshold``) as ``out_threshold``; -> how many (see the module doc)."""
    from paddle.framework import core
    from ppdet.utils.fileio import atomic_write
    path = _model_file(model_dir)
    with open(path, 'rb') as f:
        desc = core.ProgramDesc(f.read())
    block = desc.block(0)
    ops = [block.op(i) for i in range(block.op_size())]
    producers = {n: op for op in ops for n in op.output_arg_names()}
    n = 0
    for op in ops:
        for add in _sum_of_convs(op, producers) or ():
            if add.has_attr('Out0_threshold') and not add.has_attr(THRESHOLD_ATTR):
                add._set_float32_attr(THRESHOLD_ATTR, float(add.attr('Out0_threshold')))
                n += 1
    if n:
        data = desc.serialize_to_string()
        atomic_write(path, lambda f: f.write(data), mode='wb')
    return n
