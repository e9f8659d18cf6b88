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

Quantization-aware training (``Quant: {quantize_residual_adds: true}``) chooses the same
adds: :func:`qat_residual_adds` traces the float model once with every
:class:`~ppdet.modeling.ops.ResidualAdd` naming its output after its layer path and applies
:func:`standalone_adds` to that program; :func:`observe_inputs` then gives each chosen layer
a moving-average fake-quantize per input, trained with the model, and one on its output when
an fp32 op reads that too (the deployed add writes int8, so that reader gets it rounded).
The QAT export turns them into quantize / dequantize pairs, whose scales oneDNN reads as it
reads a conv's.  PTQ's simulation does not round such an output: rounding it there too
(tried) left the trained built-in Lite's deployed AP as it was and moved its simulation
away from the deployment (simulated Easy 21.17 -> 20.80, detections matched 83% -> 82%).
"""
import contextlib
import shutil
import tempfile

import paddle

from ppdet.deploy.infer_cfg import model_files, weights_by_layer
from ppdet.deploy.program_fixes import edit_program_file
from ppdet.utils.static_graph import op_consumers, op_producers, read_program

__all__ = ['standalone_adds', 'marked_copy', 'qat_residual_adds', 'observe_inputs',
           'ADD_OP']

ADD_OP = 'elementwise_add'
SKIP_QUANT = 'skip_quant'
_CONVS = ('conv2d', 'depthwise_conv2d')
_ACTIVATIONS = ('relu', 'relu6', 'leaky_relu', 'hard_swish', 'swish')
# what both inputs of such an add come from (a conv, BN or bias add would be folded by oneDNN
# or is no residual)
_SOURCES = _ACTIVATIONS + ('pool2d',)


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
    return _chosen_adds(model_dir, float_weights)[0]


def _chosen_adds(model_dir, float_weights=()):
    """-> (the adds :func:`standalone_adds` picks, those of them whose activation output is
    also read by an op that runs fp32), by output var name."""
    block = read_program(model_files(str(model_dir))[0]).global_block()
    producers, consumers = op_producers(block), op_consumers(block)
    float_weights = set(float_weights)
    chosen = [op.output('Out')[0] for op in block.ops
              if _is_standalone(op, producers, consumers, float_weights)]

    def int8_reader(op):
        """Does ``op`` read its input in int8 (a quantized conv, a chosen add, or a pool
        whose readers all do)?"""
        if op.type in _CONVS:
            return op.input('Filter')[0] not in float_weights
        if op.type == ADD_OP:
            return op.output('Out')[0] in chosen
        if op.type == 'pool2d':
            return all(int8_reader(r) for r in consumers.get(op.output('Out')[0], []))
        return False
    boundary = [name for name in chosen if not all(
        int8_reader(r) for r in consumers.get(
            _activation_after(producers[name], consumers).output('Out')[0], []))]
    return chosen, boundary


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


def _residual_add_layers(model):
    from ppdet.modeling.ops import ResidualAdd
    return {n: l for n, l in model.named_sublayers() if isinstance(l, ResidualAdd)}


@contextlib.contextmanager
def _named_by_path(layers):
    """Each ``ResidualAdd`` in ``layers`` names its traced output after its path."""
    try:
        for path, layer in layers.items():
            layer.trace_name = path
        yield
    finally:
        for layer in layers.values():
            layer.trace_name = None


def qat_residual_adds(model, cfg, float_layers=()):
    """The ``ResidualAdd`` layers of ``model`` that QAT should quantize, by path: -> (those
    whose add :func:`standalone_adds` picks in the float model's exported program, those of
    them whose output an fp32 op reads too).  ``cfg`` gives the input size; ``float_layers``:
    names of the conv layers QAT keeps in float.

    The deployed add writes int8, so an fp32 reader of its output (BlazeFace-Lite's last
    block add, reading the block before it) gets it rounded and clipped at its scale; the
    simulation matches that only if the add's output is fake-quantized too
    (:func:`observe_inputs`).  Without it, with conv16's add alone quantized, a tiny
    random BlazeFace-Lite's deployed scores were 4.6 dB further from its float model than
    the simulation's (17.96 against 22.56 dB); with it, deployed and simulated agreed to 41 dB.
    """
    from ppdet.engine.export import export_model
    layers = _residual_add_layers(model)
    if not layers:
        return [], []
    training = model.training
    try:
        with tempfile.TemporaryDirectory() as tmp, _named_by_path(layers):
            export_model(model, cfg, tmp, ['object'] * int(cfg.get('num_classes', 1)))
            by_layer = weights_by_layer(tmp)
            float_weights = [t for layer in float_layers for t in by_layer.get(layer, ())]
            chosen, boundary = _chosen_adds(tmp, float_weights)
    finally:
        if training:            # the export left it in eval mode
            model.train()
    return [p for p in layers if p in chosen], [p for p in layers if p in boundary]


def observe_inputs(model, paths, outputs=(), moving_rate=0.9, bits=8):
    """Give each ``ResidualAdd`` at ``paths`` a moving-average abs-max fake-quantize per
    input (QAT's activation quantizer), and those at ``outputs`` one on their output too;
    -> the number of layers changed."""
    from paddle.nn.quant.quant_layers import FakeQuantMovingAverageAbsMax
    layers = _residual_add_layers(model)
    missing = [p for p in list(paths) + list(outputs) if p not in layers]
    if missing:
        raise ValueError('the QAT record names residual adds %s, which this model does not have '
                         '(its ResidualAdd layers: %s)' % (', '.join(missing),
                                                          ', '.join(layers) or 'none'))

    def quanter(path, what):
        return FakeQuantMovingAverageAbsMax(name='%s.%s' % (path, what),
                                            moving_rate=moving_rate, quant_bits=bits)
    for path in paths:
        layers[path].input_quanters = paddle.nn.LayerList([quanter(path, side)
                                                           for side in ('x', 'y')])
    for path in outputs:
        layers[path].output_quanter = quanter(path, 'out')
    return len(paths)
