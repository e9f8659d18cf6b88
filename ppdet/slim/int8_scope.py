"""Keep the ops after a detector's last conv (head reshapes, box decoding, NMS) out of
oneDNN int8.

PaddleSlim's post-training quantization records an output threshold (``out_threshold``) on
every op it ran during calibration, the decoding ops included, and Paddle Inference's oneDNN
int8 passes then quantize any op whose inputs and outputs have such scales.  For a family
that decodes with plain ops (BlazeFace: slices, multiplies and concats of prior boxes in
pixels), that breaks twice, as measured on the built-in BlazeFace (Paddle 2.6.2):

* the predictor cannot be created: ``cpu_quantize_squash_pass`` fails with "The operator
  after requantize should have input scale(0.000000) equal to requantize output scale" (it
  takes enabling concat, slice and elementwise_mul together; any two of them load);
* prior boxes up to ~380 px in 8 bits would be ~1.5 px steps, for no speed gain.

These ops do no arithmetic worth quantizing, so their thresholds are removed: with no scales
they run in fp32 (the head convs' outputs are dequantized once).  With it the built-in
BlazeFace loads and its deployed int8 AP equals fp32 (Easy 0.1708 vs 0.1695, abs_max).
"""
import glob
import os

__all__ = ['keep_post_head_fp32', 'CONV_OPS']

CONV_OPS = ('conv2d', 'depthwise_conv2d', 'conv2d_transpose')
THRESHOLD_ATTR = 'out_threshold'


def _model_file(model_dir):
    files = sorted(glob.glob(os.path.join(str(model_dir), '*.pdmodel')))
    if len(files) != 1:
        raise FileNotFoundError('expected one .pdmodel file in %s, found %d' % (model_dir,
                                                                                len(files)))
    return files[0]


def keep_post_head_fp32(model_dir):
    """Remove the output thresholds of the non-conv ops whose outputs reach no conv (the ops
    after the head) in ``model_dir``'s program, in place (atomically).  Returns their count
    by op type."""
    from paddle.framework import core
    from ppdet.utils.fileio import atomic_write
    path = _model_file(model_dir)
    with open(path, 'rb') as f:
        desc = core.ProgramDesc(f.read())
    block = desc.block(0)
    ops = [block.op(i) for i in range(block.op_size())]
    feeds_conv = set()   # variables a conv reads, directly or through other ops
    for op in reversed(ops):
        if op.type() in CONV_OPS or set(op.output_arg_names()) & feeds_conv:
            feeds_conv.update(op.input_arg_names())
    stripped = {}
    for op in ops:
        if op.type() in CONV_OPS or set(op.output_arg_names()) & feeds_conv:
            continue
        if op.has_attr(THRESHOLD_ATTR):
            op.remove_attr(THRESHOLD_ATTR)
            stripped[op.type()] = stripped.get(op.type(), 0) + 1
    if stripped:
        data = desc.serialize_to_string()
        atomic_write(path, lambda f: f.write(data), mode='wb')
    return stripped
