"""Residual adds in int8: ``quantize_post(..., quantize_residual_adds=True)``.

Some blocks add their shortcut to an activation's output: BlazeFace's and BlazeFace-Lite's
``relu(shortcut + relu(conv(x)))``.  oneDNN folds an add into a conv only when the add reads
the conv's output directly (ResNet's ``relu(bn(conv(x)) + shortcut)``), so these adds stay
separate ops.  PTQ quantizes only conv inputs, so the adds carry no int8 scale and oneDNN
runs each of them, and the ReLU after it, in fp32 between reorders: 12.3 of BlazeFace-Lite's
35.9 ms of oneDNN primitives at 640 (``benchmarks/results/second_cpu/bf16/decode_fp32/
int8_residual_adds_blazeface.txt``).

With the option, PTQ quantizes these adds too, and only these, so the simulation and the
deployed graph still round the same tensors:

* :func:`standalone_adds` picks them in the fp32 program: a two-input ``elementwise_add``
  whose inputs come from an activation or a pool (not a conv, BN or bias add: oneDNN
  folds those) and whose output, through one activation, feeds a conv that is quantized.
  Decoding adds (prior boxes plus offsets) feed no conv and are left alone.
* :func:`marked_copy` writes a copy of the model in which every other ``elementwise_add``
  has ``op_namescope = skip_quant``; PaddleSlim's PTQ, given ``elementwise_add`` as a
  quantizable type, then puts a quantize-dequantize op on both inputs of the chosen adds
  only, with the calibrated scales.  :func:`~ppdet.slim.deploy_scales.align_output_thresholds`
  keeps those scales (they are simulated).
* The deployed add writes its activation's output, whose scale is the one the next conv's
  input is quantized with in both graphs: :func:`ppdet.deploy.predictors.paddle_cpu_config`
  adds oneDNN's add + activation fusion to Paddle 2.6.2's int8 pass list, which lacks it.
  Without the fusion (a plain Paddle Inference config) the adds find no output scale and
  run fp32, as without the option.
"""
import shutil

import paddle

from ppdet.deploy.infer_cfg import model_files
from ppdet.deploy.program_fixes import edit_program_file
from ppdet.utils.static_graph import op_consumers, op_producers, static_mode

__all__ = ['standalone_adds', 'marked_copy', 'ADD_OP']

ADD_OP = 'elementwise_add'
SKIP_QUANT = 'skip_quant'
_CONVS = ('conv2d', 'depthwise_conv2d')
_ACTIVATIONS = ('relu', 'relu6', 'leaky_relu', 'hard_swish', 'swish')
# what both inputs of such an add come from (a conv, BN or bias add would be folded by oneDNN
# or is no residual)
_SOURCES = _ACTIVATIONS + ('pool2d',)


def _block(model_file):
    """The global block of the program in ``model_file`` (no parameters needed)."""
    with static_mode():
        with open(model_file, 'rb') as f:
            return paddle.static.Program.parse_from_string(f.read()).global_block()


def _activation_after(add, consumers):
    """The single activation op reading ``add``'s output, or None."""
    nxt = consumers.get(add.output('Out')[0], [])
    return nxt[0] if len(nxt) == 1 and nxt[0].type in _ACTIVATIONS else None


def _is_standalone(add, producers, consumers, float_weights):
    if add.type != ADD_OP or len(add.input('X')) != 1 or len(add.input('Y')) != 1:
        return False
    sources = [producers.get(add.input(slot)[0]) for slot in ('X', 'Y')]
    if any(p is None or p.type not in _SOURCES for p in sources):
        return False     # a parameter, or something oneDNN folds
    act = _activation_after(add, consumers)
    if act is None:
        return False
    return any(op.type in _CONVS and op.input('Filter')[0] not in float_weights
               for op in consumers.get(act.output('Out')[0], []))


def standalone_adds(model_dir, float_weights=()):
    """Output var names of the residual adds of ``model_dir``'s program to quantize (see
    the module doc); ``float_weights``: weights of the convs kept in fp32."""
    block = _block(model_files(str(model_dir))[0])
    producers, consumers = op_producers(block), op_consumers(block)
    float_weights = set(float_weights)
    return [op.output('Out')[0] for op in block.ops
            if _is_standalone(op, producers, consumers, float_weights)]


def marked_copy(model_dir, out_dir, adds):
    """Copy ``model_dir`` to ``out_dir`` with every ``elementwise_add`` not writing one of
    ``adds`` marked ``skip_quant``; -> ``out_dir``."""
    shutil.copytree(str(model_dir), str(out_dir), dirs_exist_ok=True)
    chosen = set(adds)

    def mark(block):
        others = [op for op in block.ops
                  if op.type == ADD_OP and op.output('Out')[0] not in chosen]
        for op in others:
            op._set_attr('op_namescope', SKIP_QUANT)
        return len(others)
    edit_program_file(model_files(str(out_dir))[0], mark)
    return out_dir
