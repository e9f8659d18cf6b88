"""A QAT export's float simulation as the QAT model computed it.

Paddle's ``save_quantized_model`` (``onnx_format``) writes each quantized layer's output
scale, which the dygraph QAT model only observed (``MovingAverageAbsMaxScale`` returns its
input), as a quantize + dequantize pair on the layer's output, in front of its BN.  The
runtimes read the scale from that pair (Paddle-Lite, TensorRT), so the export keeps it.  But
neither the model QAT trained nor its oneDNN int8 deployment rounds there (oneDNN folds the
BN into the conv and requantizes the activated output with the next layer's input scale):
only the export run in float does.  Measured on the face job's trained BlazeFace-Lite QAT
(44 such pairs): its head outputs were 7.8-15.8 dB SNR from the dygraph QAT model's with the
pairs and 14.5-25.6 dB without them, and the deployed outputs were the same either way.

:func:`bypass_output_observers` removes those pairs from a program;
:func:`trained_simulation` gives a QAT export's directory with them removed and
:func:`simulated_as_trained` does it to a loaded QAT program (any other model is left as it
is).  A quantizer QAT trained (a layer's input, a residual add's input or output) is never
touched.  Only QAT exports: an ``onnx_format`` PTQ export has such pairs too, but there
oneDNN's int8 passes need them (without them its requantize squash fails), so they are part
of what it deploys.
"""
import contextlib
import os
import shutil
import tempfile

from ppdet.deploy.infer_cfg import load_infer_cfg
from ppdet.utils.static_graph import (load_program, op_consumers, op_producers, read_program,
                                      remove_ops, save_program, static_mode)

__all__ = ['bypass_output_observers', 'output_observers', 'trained_simulation', 'is_qat_export',
           'simulated_as_trained']

LAYER_OPS = ('conv2d', 'depthwise_conv2d', 'conv2d_transpose', 'mul', 'matmul', 'matmul_v2')


def _layer_output(block, name, producers):
    """True when ``name`` is a quantized layer's output: a conv / matmul's, or its bias
    add's (an ``elementwise_add`` of a layer output and a parameter)."""
    op = producers.get(name)
    if op is not None and op.type == 'elementwise_add':
        bias = op.input('Y')[0]
        if not (block.has_var(bias) and block.var(bias).persistable):
            return False
        op = producers.get(op.input('X')[0])
    return op is not None and op.type in LAYER_OPS


def output_observers(block):
    """[(quantize op, dequantize op)] of ``block``: the pairs on a layer's output that no
    layer reads as its input (a pair a layer reads directly is that layer's trained input
    quantizer, and stays)."""
    producers, consumers = op_producers(block), op_consumers(block)
    pairs = []
    for q in block.ops:
        if q.type != 'quantize_linear' or not _layer_output(block, q.input('X')[0], producers):
            continue
        readers = consumers.get(q.output('Y')[0], [])
        if len(readers) != 1 or readers[0].type != 'dequantize_linear':
            continue
        dq = readers[0]
        if any(op.type in LAYER_OPS for op in consumers.get(dq.output('Y')[0], [])):
            continue
        pairs.append((q, dq))
    return pairs


def bypass_output_observers(block):
    """Remove :func:`output_observers`'s pairs, their readers reading the layer output
    itself; -> how many pairs."""
    pairs = output_observers(block)
    if not pairs:
        return 0
    consumers = op_consumers(block)
    with static_mode():
        for q, dq in pairs:
            src, out = q.input('X')[0], dq.output('Y')[0]
            for op in consumers.get(out, []):
                op._rename_input(out, src)
        remove_ops(block, [op for pair in pairs for op in pair])
    return len(pairs)


def is_qat_export(model_dir):
    """True for an export of a QAT model (its ``infer_cfg.yml`` records ``quant_aware``)."""
    quant = (load_infer_cfg(model_dir).get('compression') or {}).get('quant') or {}
    return quant.get('method') == 'quant_aware'


def simulated_as_trained(program, model_dir):
    """Bypass the output observers of ``program`` (loaded from ``model_dir``) when it is a
    QAT export; -> how many pairs."""
    return bypass_output_observers(program.global_block()) if is_qat_export(model_dir) else 0


@contextlib.contextmanager
def trained_simulation(model_dir):
    """``model_dir``, or, for a QAT export with output observers, a temporary copy without
    them (removed on exit)."""
    # the record first: only a QAT export's program is worth parsing
    if not (is_qat_export(model_dir) and output_observers(
            read_program(os.path.join(str(model_dir), 'model.pdmodel')).global_block())):
        yield model_dir
        return
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
        prog, feeds, fetches, scope = load_program(tmp)
        bypass_output_observers(prog.global_block())
        save_program(tmp, prog, feeds, fetches, scope)
        yield tmp
