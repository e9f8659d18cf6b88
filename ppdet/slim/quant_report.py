"""Per-layer quantization error: which layers make a PTQ model collapse, worst first.

For every quantizable op (conv2d / depthwise_conv2d / mul / matmul) of an exported
fp32 model and its PTQ int8 model, the report gives two errors of the layer's
output against fp32, as cosine similarity and SNR in dB, on a few calibration
images.  Both are measured with the real quantization ops of the int8 program
(Paddle's static executor; the fake-quant ops compute exactly the int8 rounding
and clipping, in float):

* ``isolated``: this layer quantized, its input taken from the fp32 run.  The int8
  program is run once with every activation-quantize op re-wired to read the fp32
  activation, so each layer's own quantization error shows without what the layers
  before it added.  This ranks the layers; keep the worst in fp32 (``skip_layers``).
* ``accumulated``: the int8 program end to end: the error that reaches this layer.

Layers are named by their exported weight tensor (``conv2d_12.w_0``) and, when the
export recorded it (``param_names.json``), by their model name.
"""
import json
import math
import os

import numpy as np
import paddle

# the report files write_report / write_deployed_report put beside an int8 model (a new model
# written into the directory removes them: ppdet.deploy.derived.remove_derived)
from ppdet.deploy.derived import REPORT_FILES
from ppdet.deploy.compare import DEFAULT_TOLERANCE as MATCH_TOLERANCE, detection_agreement
from ppdet.slim.qat_simulation import simulated_as_trained
from ppdet.utils.fileio import write_json
from ppdet.utils.static_graph import (load_program, op_consumers, op_producers, save_program,
                                      static_mode)

__all__ = ['layer_report', 'format_table', 'write_report', 'load_program', 'quantizable_ops',
           'compare_int8', 'DEFAULT_TOLERANCE', 'deployed_layer_report',
           'deployed_worst', 'format_deployed_table', 'layer_outputs',
           'cosine', 'snr_db']

_OP_WEIGHT_SLOT = {'conv2d': 'Filter', 'depthwise_conv2d': 'Filter', 'mul': 'Y',
                   'matmul': 'Y', 'matmul_v2': 'Y'}
_OP_INPUT_SLOT = {'conv2d': 'Input', 'depthwise_conv2d': 'Input', 'mul': 'X',
                  'matmul': 'X', 'matmul_v2': 'X'}
_OP_OUTPUT_SLOT = {'conv2d': 'Output', 'depthwise_conv2d': 'Output', 'mul': 'Out',
                   'matmul': 'Out', 'matmul_v2': 'Out'}
MAX_SNR = 100.0  # dB reported for an exact match


def _is_quant_op(op):
    return 'quantize' in op.type


def _trace_back(var, producers):
    """Follow a var back through (de)quantize ops: -> (float source var, first quant op)."""
    first = None
    op = producers.get(var)
    while op is not None and _is_quant_op(op):
        first = op
        var = op.input('X')[0]
        op = producers.get(var)
    return var, first


def _trace_forward(var, consumers):
    """Follow a conv output through dequantize ops to the float value the next op uses."""
    while True:
        nxt = [op for op in consumers.get(var, []) if 'dequantize' in op.type]
        if not nxt:
            return var
        var = nxt[0].output('Out')[0] if 'Out' in nxt[0].output_names else nxt[0].output('Y')[0]


def quantizable_ops(program):
    """[(op, weight tensor name, output var)] of the ops PTQ may quantize, in order."""
    block = program.global_block()
    producers = op_producers(block)
    persistable = {v.name for v in program.list_vars() if v.persistable}
    out = []
    for op in block.ops:
        slot = _OP_WEIGHT_SLOT.get(op.type)
        if slot is None or not op.input(slot):
            continue
        weight, _ = _trace_back(op.input(slot)[0], producers)
        if weight not in persistable:
            continue  # activation x activation: not a layer with weights
        out.append((op, weight, op.output(_OP_OUTPUT_SLOT[op.type])[0]))
    return out


def _strip_feed_fetch(program):
    """The executor adds its own feed/fetch ops; the saved ones would clash with extra feeds."""
    block = program.global_block()
    for i in reversed(range(len(block.ops))):
        if block.ops[i].type in ('feed', 'fetch'):
            block._remove_op(i)
    return program


def _run(program, scope, feed, fetch):
    with static_mode():
        exe = paddle.static.Executor(paddle.CPUPlace())
        with paddle.static.scope_guard(scope):
            return exe.run(program, feed=feed, fetch_list=list(fetch), return_numpy=True)


def cosine(ref, got):
    a, b = np.ravel(ref).astype('float64'), np.ravel(got).astype('float64')
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(np.dot(a, b) / (na * nb))


def snr_db(ref, got):
    a, b = np.ravel(ref).astype('float64'), np.ravel(got).astype('float64')
    noise = float(np.sum((a - b) ** 2))
    signal = float(np.sum(a ** 2))
    if noise == 0:
        return MAX_SNR
    if signal == 0:
        return -MAX_SNR
    return float(min(MAX_SNR, 10.0 * math.log10(signal / noise)))


def _errors(ref, got):
    return {'cosine': round(cosine(ref, got), 6), 'snr_db': round(snr_db(ref, got), 3)}


def layer_report(fp32_dir, int8_dir, feeds, names=None):
    """Rows (dicts), worst isolated SNR first; see the module doc.

    ``feeds``: dict of stacked numpy inputs (``image``, ``im_shape``, ``scale_factor``).
    ``names``: exported tensor name -> model name (default: the int8 dir's param_names.json).
    """
    from ppdet.deploy.infer_cfg import read_param_names
    names = names if names is not None else (read_param_names(int8_dir) or
                                             read_param_names(fp32_dir))
    fp_prog, fp_feeds, _, fp_scope = load_program(fp32_dir)
    q_prog, q_feeds, _, q_scope = load_program(int8_dir)
    simulated_as_trained(q_prog, int8_dir)
    feed = {k: feeds[k] for k in fp_feeds}
    # a weight shared by several ops (a dense head's tower conv runs once per FPN level) has
    # one layer per call: the k-th call in the int8 graph is compared with the k-th in fp32
    fp_ops = {}
    for op, w, out in quantizable_ops(fp_prog):
        fp_ops.setdefault(w, []).append((op, out))
    calls = {}

    q_prog = _strip_feed_fetch(q_prog)
    # the executor caches programs by identity: re-wire a second copy for the isolated run
    iso_prog, _, _, iso_scope = load_program(int8_dir)
    iso_prog = _strip_feed_fetch(iso_prog)
    simulated_as_trained(iso_prog, int8_dir)
    block = iso_prog.global_block()
    producers, consumers = op_producers(block), op_consumers(block)
    layers = []  # (weight, op_type, fp32 output, int8 output, fp32 input, quantized?)
    for op, weight, out in quantizable_ops(q_prog):
        k = calls[weight] = calls.get(weight, -1) + 1
        if k >= len(fp_ops.get(weight, ())):
            continue
        src, first = _trace_back(op.input(_OP_INPUT_SLOT[op.type])[0], producers)
        layers.append({'weight': weight, 'op_type': op.type, 'fp32_out': fp_ops[weight][k][1],
                       'call': k, 'calls': len(fp_ops[weight]),
                       'int8_out': _trace_forward(out, consumers), 'input': src,
                       'quant_op': first, 'quantized': first is not None})

    fp_fetch = sorted({l['fp32_out'] for l in layers} | {l['input'] for l in layers})
    fp_vals = dict(zip(fp_fetch, _run(_strip_feed_fetch(fp_prog), fp_scope, feed, fp_fetch)))
    q_fetch = [l['int8_out'] for l in layers]
    accumulated = _run(q_prog, q_scope, feed, q_fetch)

    # isolated: the activation-quantize ops read the fp32 activations instead
    iso_feed = dict(feed)
    for l in layers:
        qop = l['quant_op']
        if qop is None or l['input'] in feed:
            continue
        ref = l['input'] + '@fp32_ref'
        if not block.has_var(ref):
            var = block.var(l['input'])
            with static_mode():
                block.create_var(name=ref, shape=var.shape, dtype=var.dtype, persistable=False)
                qop._rename_input(l['input'], ref)
            iso_feed[ref] = fp_vals[l['input']]
    isolated = _run(iso_prog, iso_scope, iso_feed, q_fetch)

    rows = []
    for l, acc, iso in zip(layers, accumulated, isolated):
        ref = fp_vals[l['fp32_out']]
        row = {'layer': _layer_name(names, l['weight'], l['call'], l['calls']),
               'weight': l['weight'], 'op_type': l['op_type'], 'quantized': l['quantized'],
               'shape': list(ref.shape), 'output': l['fp32_out'],
               'accumulated': _errors(ref, acc)}
        row['isolated'] = _errors(ref, iso) if l['quantized'] else {'cosine': 1.0,
                                                                     'snr_db': MAX_SNR}
        rows.append(row)
    rows.sort(key=lambda r: (not r['quantized'], r['isolated']['snr_db'],
                             r['accumulated']['snr_db']))
    return rows


def _layer_name(names, weight, call=0, calls=1):
    """The model's name of ``weight``'s layer; ``@k`` marks its k-th call (0-based) when the
    weight is used by several ops (shared convs)."""
    name = names.get(weight, weight).rsplit('.weight', 1)[0]
    return '%s@%d' % (name, call) if calls > 1 else name


def _shown_layer(row, parts):
    """A row's layer name; ``[part i/n]`` where one layer is several convs (a route concat's
    conv split by the export, :func:`ppdet.deploy.program_fixes.split_concat_convs`): one
    ``--skip_layers`` name keeps all its parts in fp32."""
    weights = sorted(parts.get(row['layer'], ()))
    if len(weights) < 2 or row.get('weight') not in weights:
        return row['layer']
    return '%s [part %d/%d]' % (row['layer'], weights.index(row['weight']) + 1, len(weights))


def format_table(rows, top=None):
    head = '| rank | layer | op | quantized | isolated cos | isolated SNR dB | ' \
           'accumulated cos | accumulated SNR dB |'
    lines = [head, '|' + '---|' * 8]
    parts = {}
    for r in rows:
        parts.setdefault(r['layer'], set()).add(r.get('weight'))
    for i, r in enumerate(rows[:top] if top else rows):
        lines.append('| %d | %s | %s | %s | %.4f | %.1f | %.4f | %.1f |' % (
            i + 1, _shown_layer(r, parts), r['op_type'], 'int8' if r['quantized'] else 'fp32',
            r['isolated']['cosine'], r['isolated']['snr_db'],
            r['accumulated']['cosine'], r['accumulated']['snr_db']))
    return '\n'.join(lines)


def write_report(rows, out_dir, extra=None):
    """Write ``quant_report.json`` and ``quant_report.md``; returns both paths."""
    os.makedirs(str(out_dir), exist_ok=True)
    jpath = os.path.join(str(out_dir), REPORT_FILES[0])
    mpath = os.path.join(str(out_dir), REPORT_FILES[1])
    write_json(jpath, dict(extra or {}, layers=rows))
    with open(mpath, 'w') as f:
        f.write('# Per-layer quantization error (worst first)\n\n')
        if extra:
            f.write('```\n%s\n```\n\n' % json.dumps(extra, indent=1, sort_keys=True))
        f.write('isolated: the layer alone quantized, fp32 input; accumulated: the whole int8 '
                'program up to this layer. SNR = 10 log10(|fp32|^2 / |fp32 - int8|^2). '
                '[part i/n]: one layer the export computes as n convs (a route concat split '
                'into a sum); --skip_layers with its name keeps every part in fp32.\n\n')
        f.write(format_table(rows) + '\n')
    return jpath, mpath


# -- int8 vs fp32 on the deploy runtimes: agreement first, then speed ------------------
# the shared matching tolerance, plus a bound on how far int8 may move a matched score
DEFAULT_TOLERANCE = dict(MATCH_TOLERANCE, max_score_diff=0.15)


def compare_int8(fp32_dir, int8_dir, images, runtimes=('paddle', 'onnx'), tolerance=None,
                 calib_images=None, repeats=20, cpu_threads=1, time_it=True):
    """Run fp32 and int8 on the same images; report agreement and, only if they agree,
    the int8 speed-up.

    ``paddle``: ``int8_dir`` (PTQ/QAT model) with oneDNN int8 kernels vs ``fp32_dir``
    with oneDNN fp32.  ``onnx``: ``fp32_dir`` converted by paddle2onnx and quantized
    for onnxruntime (QDQ, calibrated on ``calib_images``, default ``images``) vs the
    fp32 ONNX model.  Detections are matched by class and IoU
    (:func:`ppdet.deploy.compare.match_batch`); ``tolerance`` overrides
    :data:`DEFAULT_TOLERANCE`.  Timing is interleaved in this process at batch 1;
    a runtime whose int8 detections disagree gets ``speedup: None`` and the reasons.
    """
    from ppdet.deploy.benchmark import interleaved_latency
    from ppdet.deploy.infer_cfg import load_infer_cfg
    from ppdet.deploy.predictors import create_predictor
    from ppdet.deploy.preprocess import Preprocessor
    tol = dict(DEFAULT_TOLERANCE, **(tolerance or {}))
    pre = Preprocessor(load_infer_cfg(fp32_dir))
    feeds = [pre([im]) for im in images]
    preds = {}
    for rt in runtimes:
        if rt == 'paddle':
            preds['paddle_fp32'] = create_predictor(fp32_dir, 'paddle', cpu_threads=cpu_threads)
            preds['paddle_int8'] = create_predictor(int8_dir, 'paddle', cpu_threads=cpu_threads,
                                                    enable_mkldnn_int8=True)
        elif rt == 'onnx':
            from ppdet.deploy.derived import write_stamp
            from ppdet.deploy.infer_cfg import model_files
            from ppdet.deploy.onnx import ONNX_INT8_FILE, quantize_onnx
            calib = [pre([im]) for im in (calib_images if calib_images is not None else images)]
            onnx_int8 = quantize_onnx(fp32_dir, iter(calib),
                                      save_file=os.path.join(str(int8_dir), ONNX_INT8_FILE))
            # the onnx run mode runs it for int8_dir while int8_dir holds this model
            write_stamp(onnx_int8, model_files(int8_dir))
            preds['onnx_fp32'] = create_predictor(fp32_dir, 'onnx', cpu_threads=cpu_threads)
            preds['onnx_int8'] = create_predictor(fp32_dir, 'onnx', cpu_threads=cpu_threads,
                                                  onnx_file=onnx_int8)
        else:
            raise ValueError('unknown runtime %r for the int8 check (paddle or onnx)' % rt)
    outputs = {name: [p.run(f) for f in feeds] for name, p in preds.items()}
    result = {'tolerance': tol, 'images': len(feeds), 'runtimes': {}}
    timing = None
    if time_it:
        timing = interleaved_latency({n: (lambda p=p: p.run(feeds[0])) for n, p in preds.items()},
                                     repeats=repeats, warmup=3)
        result['median_ms'] = timing['median_ms']
    for rt in runtimes:
        ref, got = outputs[rt + '_fp32'], outputs[rt + '_int8']
        agree = detection_agreement(ref, got, tol)
        entry = {'agreement': agree}
        if timing is not None:
            ms = timing['median_ms']
            ratio = ms[rt + '_fp32'] / ms[rt + '_int8']
            entry['speedup'] = round(ratio, 3) if agree['agrees'] else None
            if not agree['agrees']:
                # nothing to compare is not a disagreement: say which it is
                what = ('could not be compared with fp32' if agree['n_ref'] == 0
                        else 'disagree with fp32')
                entry['refused'] = ('int8 detections %s (%s): no speed-up is reported'
                                    % (what, '; '.join(agree['problems'])))
        result['runtimes'][rt] = entry
    for p in preds.values():
        p.close()
    return result


# -- the deployed graph: what oneDNN int8 executes vs what PaddleSlim simulated ---------
# ops oneDNN fuses into the conv before them (BN, bias or residual add, activation): the
# tensor after them is the one the deployed graph really holds, so it is the one compared
_FUSED_AFTER_CONV = ('batch_norm', 'elementwise_add', 'relu', 'leaky_relu', 'relu6', 'swish',
                     'hard_swish', 'sigmoid', 'hard_sigmoid')
# a layer departs from its simulation when execution adds this much error on top of it
DEPART_SNR_DB = 30.0


def layer_outputs(program):
    """[(weight, op type, output var)] per quantizable op, in graph order; the output is
    the float tensor after the ops fused into the layer (see ``_FUSED_AFTER_CONV``), the
    same name in the fp32, simulated and deployed graphs."""
    block = program.global_block()
    consumers = op_consumers(block)
    out = []
    for op, weight, var in quantizable_ops(program):
        last = var if not _is_quant_op(op) else None
        while True:
            nxt = [c for c in consumers.get(var, []) if c.type != 'fetch']
            if len(nxt) != 1 or not (_is_quant_op(nxt[0]) or nxt[0].type in _FUSED_AFTER_CONV):
                break
            c = nxt[0]
            var = c.output('Out' if 'Out' in c.output_names else 'Y')[0]
            if not _is_quant_op(c):
                last = var
        out.append((weight, op.type, last))
    return out


# ops that turn a quantized op's raw (int-scaled) output back into its float value
_DEQUANTIZE_OPS = ('fake_dequantize_max_abs', 'fake_channel_wise_dequantize_max_abs',
                   'dequantize_linear')


def _dequantized(var, consumers):
    """The float value of ``var`` in a fake-quant graph: where a dequantize op reads ``var``
    (a conv with no BN or bias after it: its output is int-scaled), that op's output,
    through any chain of them; else ``var``."""
    seen = {var}
    while True:
        nxt = [op for op in consumers.get(var, []) if op.type in _DEQUANTIZE_OPS]
        if not nxt:
            return var
        op = nxt[0]
        var = op.output('Out' if 'Out' in op.output_names else 'Y')[0]
        if var in seen:
            return var
        seen.add(var)


def _with_extra_fetches(model_dir, names, save_dir):
    """Save ``model_dir``'s inference model with ``names`` fetched after its own outputs."""
    with static_mode():
        prog, feeds, fetches, scope = load_program(model_dir)
        block = prog.global_block()
        save_program(save_dir, prog, feeds, list(fetches) + [block.var(n) for n in names],
                     scope)
    return len(fetches)


def _paddle_outputs(model_dir, feeds, int8):
    """The deployment's outputs: Paddle Inference with the config every model here runs with
    (:func:`ppdet.deploy.predictors.paddle_cpu_config`: its int8 pass list fuses an add with
    its activation, which is what lets a residual add run int8)."""
    from ppdet.deploy.pass_log import create_quietly
    from ppdet.deploy.predictors import paddle_cpu_config, run_paddle
    config = paddle_cpu_config(os.path.join(model_dir, 'model.pdmodel'),
                               os.path.join(model_dir, 'model.pdiparams'),
                               enable_mkldnn_int8=int8)
    pred = create_quietly(config)
    return run_paddle(pred, {n: np.ascontiguousarray(feeds[n], 'float32')
                             for n in pred.get_input_names()})


def deployed_layer_report(fp32_dir, int8_dir, feeds, names=None):
    """Each quantized layer's output three ways, one image at a time: fp32, the simulation
    (the fake-quant graph in Paddle's static executor) and the deployment (Paddle Inference,
    oneDNN int8 kernels).

    The layer outputs are marked as extra outputs of a copy of the int8 model; a marked
    tensor is the one after the ops oneDNN fuses into the conv (or a conv's input), so
    marking it keeps the fusions.  ``marking_agreement``: the detections with the marks
    matched to those without (below 1.0 the marks changed the deployed graph somewhat).

    -> dict: ``rows`` in graph order (``sim_vs_fp32``, ``deployed_vs_sim``,
    ``deployed_vs_fp32``: cosine and SNR dB, worst over the images; ``deployed_added_db``:
    the SNR the layer loses in the deployed graph between its input and its output) and
    ``first_departure``: the first layer whose deployed output is further than
    ``DEPART_SNR_DB`` from its simulation and worse against fp32 than the simulation, or None.
    """
    import tempfile
    from ppdet.deploy.infer_cfg import read_param_names
    names = names if names is not None else (read_param_names(int8_dir) or
                                             read_param_names(fp32_dir))
    q_prog, q_feeds, q_fetches, q_scope = load_program(int8_dir)
    simulated_as_trained(q_prog, int8_dir)  # a QAT export: the simulation it trained
    fp_prog, fp_feeds, _, fp_scope = load_program(fp32_dir)
    producers = op_producers(q_prog.global_block())
    inputs = {}  # layer output var -> (float input tensor, quantized?)
    seen, layers = {}, []  # a shared weight (one conv on every level) is one layer per call
    for (op, weight, _), (_, op_type, var) in zip(quantizable_ops(q_prog),
                                                   layer_outputs(q_prog)):
        src, first = _trace_back(op.input(_OP_INPUT_SLOT[op.type])[0], producers)
        inputs[var] = (src, first is not None)
        seen.setdefault(weight, []).append(var)
        layers.append((weight, op_type, var))
    has = fp_prog.global_block().has_var
    layers = [l for l in layers if has(l[2])]
    fetch = sorted({v for _, _, v in layers} |
                   {inputs[v][0] for _, _, v in layers if has(inputs[v][0])} - set(q_feeds))
    # the simulation's value of a layer output: a conv with no BN or bias after it outputs
    # int-scaled values that a dequantize op reads; fp32 and the deployed graph hold the float
    q_consumers = op_consumers(q_prog.global_block())
    sim_fetch = [_dequantized(v, q_consumers) for v in fetch]
    n_images = int(np.asarray(feeds['image']).shape[0])
    per_image, marked_runs, plain_runs = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        n_out = _with_extra_fetches(int8_dir, fetch, tmp)
        q_plain, fp_plain = _strip_feed_fetch(q_prog), _strip_feed_fetch(fp_prog)
        for i in range(n_images):
            one = {k: np.asarray(v)[i:i + 1] for k, v in feeds.items()}
            sim = dict(zip(fetch, _run(q_plain, q_scope, {k: one[k] for k in q_feeds},
                                       sim_fetch)))
            fp = dict(zip(fetch, _run(fp_plain, fp_scope, {k: one[k] for k in fp_feeds}, fetch)))
            marked = _paddle_outputs(tmp, one, True)
            plain = _paddle_outputs(int8_dir, one, True)
            marked_runs.append(_detections(marked[:n_out]))
            plain_runs.append(_detections(plain))
            per_image.append((fp, sim, dict(zip(fetch, marked[n_out:]))))
    rows = []
    for weight, op_type, var in layers:
        row = {'layer': _layer_name(names, weight, seen[weight].index(var), len(seen[weight])),
               'weight': weight, 'op_type': op_type, 'quantized': inputs[var][1],
               'output': var}
        for key, (a, b) in (('sim_vs_fp32', (0, 1)), ('deployed_vs_sim', (1, 2)),
                            ('deployed_vs_fp32', (0, 2))):
            row[key] = _worst([_errors(im[a][var], im[b][var]) for im in per_image])
        src = inputs[var][0]
        before = (_worst([_errors(im[0][src], im[2][src]) for im in per_image])['snr_db']
                  if src in fetch else MAX_SNR)
        # the error this layer adds in the deployed graph (its input's SNR minus its output's)
        row['deployed_added_db'] = round(before - row['deployed_vs_fp32']['snr_db'], 3)
        rows.append(row)
    first = next((r for r in rows if _departs(r)), None)
    return {'rows': rows, 'first_departure': first and first['layer'],
            'marking_agreement': detection_agreement(plain_runs, marked_runs)['matched_fraction'],
            'images': n_images}


def _worst(errs):
    return min(errs, key=lambda e: e['snr_db'])


def _departs(row):
    """Execution adds error the simulation does not have: deployed far from simulated, and
    further from fp32 than the simulation (u8 activations after ReLU make the deployed
    graph differ from the simulation while being closer to fp32: that is not a departure)."""
    return (row['deployed_vs_sim']['snr_db'] < DEPART_SNR_DB and
            row['deployed_vs_fp32']['snr_db'] < row['sim_vs_fp32']['snr_db'] - 3.0)


def _detections(outs):
    return {'bbox': np.asarray(outs[0]).reshape(-1, 6),
            'bbox_num': np.asarray(outs[1]).reshape(-1)}


def deployed_worst(report, k):
    """The ``k`` quantized layers adding the most error in the deployed graph."""
    rows = sorted((r for r in report['rows'] if r['quantized']),
                  key=lambda r: -r['deployed_added_db'])
    return [r['weight'] for r in rows[:int(k)]]


def format_deployed_table(report):
    lines = ['| # | layer | op | int8 | sim vs fp32 SNR dB | deployed vs sim SNR dB | '
             'deployed vs fp32 SNR dB | output |', '|' + '---|' * 8]
    for i, r in enumerate(report['rows']):
        mark = ' **departs**' if r['layer'] == report['first_departure'] else ''
        lines.append('| %d | %s%s | %s | %s | %.1f | %.1f | %.1f | %s |' % (
            i + 1, r['layer'], mark, r['op_type'], 'yes' if r['quantized'] else 'no',
            r['sim_vs_fp32']['snr_db'], r['deployed_vs_sim']['snr_db'],
            r['deployed_vs_fp32']['snr_db'], r['output']))
    return '\n'.join(lines)


def write_deployed_report(report, out_dir):
    """Write ``quant_report_deployed.{json,md}``; returns both paths."""
    jpath = os.path.join(str(out_dir), REPORT_FILES[2])
    mpath = os.path.join(str(out_dir), REPORT_FILES[3])
    write_json(jpath, report)
    text = ('# Per-layer int8 error in the deployed graph (Paddle Inference, oneDNN int8)\n\n'
            'Graph order. sim: the fake-quant graph in float; deployed: oneDNN int8 kernels; '
            'SNR = 10 log10(|ref|^2 / |ref - x|^2), worst of %d images. First layer where '
            'execution departs from simulation: %s. Detections with the extra outputs marked '
            'vs without: %.0f%% matched.\n\n%s\n' % (
                report['images'], report['first_departure'] or 'none',
                100 * report['marking_agreement'], format_deployed_table(report)))
    from ppdet.utils.fileio import atomic_write
    atomic_write(mpath, lambda f: f.write(text))
    return jpath, mpath
