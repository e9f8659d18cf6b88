"""ONNX export of an exported model (paddle2onnx) and static int8 quantization for onnxruntime.

``convert_to_onnx(model_dir)`` caches ``model.onnx`` beside the Paddle model and
reconverts when the Paddle files are not the ones it was made from
(:mod:`ppdet.deploy.derived`).  Opset 13 first: with opset 11
paddle2onnx 1.3.1 writes a Squeeze/Gather pair in the NMS subgraph that onnxruntime
rejects ("data tensor must have rank >= 1").

``quantize_onnx(model_dir, calib_inputs_iter)`` writes ``model_int8.onnx``: QDQ,
per-channel int8 weights, uint8 activations and ``reduce_range=True`` (7-bit weights):
without it onnxruntime's u8s8 kernels saturate on AVX2 CPUs without VNNI and the
outputs drift (cosine 0.78-0.95 measured) at the same speed.

Trap (paddle2onnx 1.3.1): its ``multiclass_nms3`` conversion finds a detection's score
at ``class_id * num_boxes + box_id`` with ``num_boxes`` taken from the static shape of
the scores; when that dimension is dynamic (-1) it silently multiplies by -1 and every
class but the first gets wrong scores.  :func:`nms_box_counts` reads the shapes from the
Paddle program and conversion refuses such models.  The exported NMS also handles one
image per run.

Trap (paddle2onnx 1.3.1): its NMS subgraph takes the box and class columns of
``NonMaxSuppression``'s ``[K, 3]`` selected indices with a ``Gather`` on axis 1 and an
axis-less ``Squeeze``; when exactly one box survives (K = 1) that squeezes to a scalar and
onnxruntime fails in the next ``Gather`` ("axis 0 is not in valid range [-0,-1]") - an
image with one face, one object.  :func:`pin_nms_column_squeezes` gives those Squeezes their
axis (1) after conversion.

Trap (paddle2onnx 1.3.1): in a QAT export it folds each BN into the conv before it but keeps
the conv's output observer, whose scale was taken before the BN, on the folded output: every
post-BN value was clipped at the pre-BN range (BlazeFace lost most faces, silently).
:mod:`ppdet.deploy.onnx_qat` rewrites paddle2onnx's copy of the program first; a cached
``model.onnx`` converted without that is converted again.

Trap (paddle2onnx 1.3.1): ``deformable_conv`` (YOLOv3-R50vd-DCN) needs opset 19, beyond
the 18 it can write, and paddle2onnx then aborts the whole process (SIGABRT, nothing to
catch): :func:`unconvertible_ops` finds such ops first and conversion refuses the model.
"""
import os

from .derived import is_fresh, write_stamp
from .infer_cfg import model_files, program_desc

__all__ = ['convert_to_onnx', 'onnx_model_file', 'quantize_onnx', 'pin_nms_column_squeezes',
           'ONNX_FILE', 'ONNX_INT8_FILE']

ONNX_FILE = 'model.onnx'
ONNX_INT8_FILE = 'model_int8.onnx'
OPSETS = (13, 11)
QUANT_OPS = ('Conv', 'MatMul', 'Gemm')


# op type -> why paddle2onnx 1.3.1 cannot convert it (it would abort the process)
UNCONVERTIBLE_OPS = {
    'deformable_conv': 'paddle2onnx 1.3.1 converts it only at opset >= 19 and writes at most 18',
    'deformable_conv_v1': 'paddle2onnx 1.3.1 has no converter for it (DCN without a mask)',
}
# A PTQ int8 export (post_quant.py) holds Paddle's own fake quantize / dequantize ops:
# paddle2onnx 1.3.1 has no converter for them and aborts the process (SIGABRT, measured),
# so they are refused first.  A QAT export (quantize_linear / dequantize_linear) converts.
_PTQ_REASON = ('a Paddle PTQ int8 graph: paddle2onnx 1.3.1 has no converter for it and aborts; '
               'run the int8 model with --run_mode paddle (oneDNN int8 kernels), or run the '
               'fp32 model it was made from on onnxruntime (post_quant.py --bench also writes '
               'onnxruntime\'s int8 model of it here, %s, which --run_mode onnx then runs)'
               % ONNX_INT8_FILE)
UNCONVERTIBLE_OPS.update({op: _PTQ_REASON for op in (
    'fake_quantize_abs_max', 'fake_quantize_range_abs_max',
    'fake_quantize_moving_average_abs_max', 'fake_channel_wise_quantize_abs_max',
    'fake_dequantize_max_abs', 'fake_channel_wise_dequantize_max_abs')})


def unconvertible_ops(model_file):
    """{op type: reason} for the ops of the program paddle2onnx cannot convert."""
    types = {op.type for block in program_desc(model_file).blocks for op in block.ops}
    return {t: UNCONVERTIBLE_OPS[t] for t in sorted(types) if t in UNCONVERTIBLE_OPS}


def onnx_model_file(model_dir):
    """The ``.onnx`` file the onnx run mode runs for ``model_dir``: its conversion
    (:func:`convert_to_onnx`), or, for a Paddle PTQ int8 model (which paddle2onnx cannot
    convert), the ``model_int8.onnx`` that ``post_quant.py --bench`` wrote beside it:
    onnxruntime's own int8 quantization of the same fp32 model, on the same calibration
    images.  One stamped with other model files (another PTQ run's) is not used."""
    model_file, params_file = model_files(model_dir)
    int8 = os.path.join(str(model_dir), ONNX_INT8_FILE)
    reasons = set(unconvertible_ops(model_file).values())
    if reasons == {_PTQ_REASON} and is_fresh(int8, (model_file, params_file)):
        from ppdet.utils.logger import setup_logger
        setup_logger(__name__).info(
            '%s is a Paddle PTQ int8 model, which paddle2onnx cannot convert: running %s, '
            "onnxruntime's int8 quantization of the fp32 model it was made from "
            '(written by post_quant.py --bench)', model_dir, int8)
        return int8
    return convert_to_onnx(model_dir)


def nms_box_counts(model_file):
    """Static box count (last dim of ``Scores``) of each multiclass_nms op in the program."""
    program = program_desc(model_file)
    counts = []
    for block in program.blocks:
        dims = {v.name: list(v.type.lod_tensor.tensor.dims) for v in block.vars}
        for op in block.ops:
            if op.type.startswith('multiclass_nms'):
                for arg in op.inputs:
                    if arg.parameter == 'Scores':
                        counts += [(dims.get(n) or [-1])[-1] for n in arg.arguments]
    return counts


def pin_nms_column_squeezes(model):
    """Give every axis-less ``Squeeze`` of a one-column ``Gather`` on axis 1 the axis it
    removes (1), so that a single selected box stays a [1] vector.  -> how many were pinned.
    ``model``: an ``onnx.ModelProto``, changed in place."""
    import numpy as np
    from onnx import helper, numpy_helper
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == 'Constant' and n.attribute:
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    opset = max(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx'))
    pinned = 0
    for n in graph.node:
        if n.op_type != 'Squeeze' or len(n.input) != 1 or \
                any(a.name == 'axes' for a in n.attribute):
            continue
        src = producer.get(n.input[0])
        if src is None or src.op_type != 'Gather':
            continue
        axis = next((helper.get_attribute_value(a) for a in src.attribute if a.name == 'axis'), 0)
        index = consts.get(src.input[1])
        if axis != 1 or index is None or index.size != 1 or index.ndim != 1:
            continue
        if opset >= 13:
            name = '%s.pinned_axes' % n.name
            graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), name))
            n.input.append(name)
        else:
            n.attribute.append(helper.make_attribute('axes', [1]))
        pinned += 1
    return pinned


def convert_to_onnx(model_dir, save_file=None, opsets=OPSETS, force=False):
    """Convert once and cache; -> the .onnx path. Tries each opset until onnxruntime loads it.
    A QAT export's conv -> output quantizer -> BN is converted as Paddle runs it
    (:mod:`ppdet.deploy.onnx_qat`); a cached conversion of one made before that is redone."""
    import shutil
    import onnx
    import onnxruntime as ort
    import paddle2onnx
    from .onnx_qat import QAT_BN_MARK, observed_batch_norms, program_for_onnx, \
        restore_batch_norms
    model_file, params_file = model_files(model_dir)
    save_file = save_file or os.path.join(model_dir, ONNX_FILE)
    qat_bns = observed_batch_norms(program_desc(model_file))
    if not force and is_fresh(save_file, (model_file, params_file)) and \
            (not qat_bns or _marked(save_file, QAT_BN_MARK)):
        return save_file
    bad = unconvertible_ops(model_file)
    if bad:
        reasons = {}        # op types by reason: the PTQ ops share one
        for op, why in bad.items():
            reasons.setdefault(why, []).append(op)
        raise ValueError('%s cannot be converted to ONNX: %s; run it with --run_mode paddle'
                         % (model_dir, '; '.join('%s (%s)' % (', '.join(ops), why)
                                                  for why, ops in reasons.items())))
    if any(n < 0 for n in nms_box_counts(model_file)):
        raise ValueError(
            '%s has NMS over a dynamic number of boxes; paddle2onnx 1.3.1 converts that '
            'wrongly (scores of every class but the first are mixed up). Export with a fixed '
            'input size (TestReader.inputs_def.image_shape: [3, H, W]) for the onnx run mode, '
            'or export with --exclude_nms' % model_dir)
    program, tmp_dir = program_for_onnx(model_file, qat_bns)
    errors = []
    try:
        for opset in opsets:
            tmp = '%s.%d.tmp' % (save_file, os.getpid())
            try:
                paddle2onnx.export(program, params_file, tmp, opset_version=opset,
                                   auto_upgrade_opset=False, verbose=False)
                proto = onnx.load(tmp)
                changed = pin_nms_column_squeezes(proto)
                if qat_bns:     # marks a conversion with the fix
                    restore_batch_norms(proto, qat_bns)
                    proto.metadata_props.add(key=QAT_BN_MARK, value=str(len(qat_bns)))
                if changed or qat_bns:
                    onnx.save(proto, tmp)
                ort.InferenceSession(tmp, providers=['CPUExecutionProvider'])  # loadable?
                os.replace(tmp, save_file)
                write_stamp(save_file, (model_file, params_file))
                return save_file
            except Exception as e:  # paddle2onnx and onnxruntime raise assorted types
                errors.append('opset %d: %s' % (opset, str(e).strip().splitlines()[-1][:300]))
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
    finally:
        if tmp_dir:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    raise RuntimeError('paddle2onnx could not convert %s to a model onnxruntime loads: %s'
                       % (model_dir, '; '.join(errors)))


def _marked(path, mark, tail=1 << 16):
    """Whether the file ``path`` holds the bytes of ``mark``, without parsing the model: its
    metadata is written after the graph, so the end of the file is read first."""
    mark = mark.encode()
    with open(path, 'rb') as f:
        f.seek(max(0, os.path.getsize(path) - tail))
        if mark in f.read():
            return True
        f.seek(0)
        return mark in f.read()


class _CalibReader(object):
    """onnxruntime CalibrationDataReader over an iterator of input dicts, one image a step
    (the exported NMS takes batch 1), each input in the type the model declares (a
    ``fuse_preprocess`` export takes its image as uint8)."""

    def __init__(self, inputs_iter, names, dtypes=None):
        dtypes = dtypes or {}
        self._items = (
            {n: feeds[n][i:i + 1].astype(dtypes.get(n, 'float32')) for n in names}
            for feeds in inputs_iter for i in range(len(feeds[names[0]])))

    def get_next(self):
        return next(self._items, None)


def quantize_onnx(model_dir, calib_inputs_iter, save_file=None, per_channel=True,
                  reduce_range=True, op_types=QUANT_OPS):
    """Static int8 (QDQ) quantization of the model's ONNX export; -> the int8 .onnx path.

    ``calib_inputs_iter`` yields input dicts (as :class:`~ppdet.deploy.preprocess.Preprocessor`
    builds them, batch 1) from representative images.  Only ``op_types`` are quantized: the
    box decoding and NMS stay in float.  Compare the outputs with fp32
    (:func:`ppdet.deploy.compare.match_detections`) before trusting the speed.
    """
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    fp32 = convert_to_onnx(model_dir)
    save_file = save_file or os.path.join(model_dir, ONNX_INT8_FILE)
    prep = save_file + '.prep.onnx'
    try:
        # symbolic shape inference would need sympy; onnx's own shape inference suffices
        quant_pre_process(fp32, prep, skip_symbolic_shape=True)
        inputs = ort.InferenceSession(prep, providers=['CPUExecutionProvider']).get_inputs()
        names = [i.name for i in inputs]
        dtypes = {i.name: 'uint8' for i in inputs if i.type == 'tensor(uint8)'}
        quantize_static(prep, save_file + '.tmp', _CalibReader(calib_inputs_iter, names, dtypes),
                        quant_format=QuantFormat.QDQ, op_types_to_quantize=list(op_types),
                        per_channel=per_channel, reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        os.replace(save_file + '.tmp', save_file)
    finally:
        for p in (prep, save_file + '.tmp'):
            if os.path.exists(p):
                os.remove(p)
    return save_file
