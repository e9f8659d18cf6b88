"""A QAT export run in float computes what the QAT model computed once the output-scale
pairs Paddle's save adds are bypassed (``ppdet.slim.qat_simulation``); the deployment does
not change.  A tiny QAT BlazeFace-Lite at 128 with its residual adds quantized (so a
trained quantizer sits on two add outputs too, and must stay)."""
import os
import sys

import numpy as np

from ppdet.slim.qat_simulation import bypass_output_observers, output_observers, \
    trained_simulation
from ppdet.slim.quant_report import _run, _strip_feed_fetch, load_program, snr_db
from ppdet.utils.static_graph import op_producers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'modeling'))
from quant_test_utils import paddle_predict  # noqa: E402
from test_residual_adds import LITE_ADD_OUTPUTS, lite, qat_lite  # noqa: E402,F401

LITE_CONVS = 44           # the quantized convs of the tiny Lite (its 4 head convs stay float)


def _simulate(model_dir, feeds, bypass):
    """The export in float (Paddle's static executor) -> its outputs."""
    prog, names, fetches, scope = load_program(model_dir)
    if bypass:
        bypass_output_observers(prog.global_block())
    return _run(_strip_feed_fetch(prog), scope, {k: feeds[k] for k in names},
                [v.name for v in fetches])


def _quantize_inputs(block):
    """The types of the ops writing the inputs of ``block``'s ``quantize_linear`` ops."""
    producers = op_producers(block)
    return sorted(producers[op.input('X')[0]].type if op.input('X')[0] in producers else 'feed'
                  for op in block.ops if op.type == 'quantize_linear')


def test_the_output_observers_are_the_quantized_convs_outputs(qat_lite):
    raw = qat_lite[1]
    block = load_program(raw)[0].global_block()
    pairs = output_observers(block)
    assert len(pairs) == LITE_CONVS
    producers = op_producers(block)
    assert {producers[q.input('X')[0]].type for q, _ in pairs} == {'conv2d', 'depthwise_conv2d'}
    before = _quantize_inputs(block)
    assert bypass_output_observers(block) == LITE_CONVS
    assert not output_observers(block)
    # what stays: every layer's input quantizer, the adds' inputs and the two boundary
    # adds' outputs (read back through the next layer's quantizer: a dequantize's output)
    after = _quantize_inputs(block)
    assert len(after) == len(before) - LITE_CONVS
    assert not {'conv2d', 'depthwise_conv2d'} & set(after)
    assert after.count('dequantize_linear') == len(LITE_ADD_OUTPUTS)


def test_without_them_the_export_simulates_the_qat_model(qat_lite):
    """The export in float follows the dygraph QAT model once the pairs are bypassed, and
    not before; the oneDNN int8 deployment is the same model either way."""
    _, raw, _, (_, dygraph), feeds = qat_lite
    as_saved = _simulate(raw, feeds, bypass=False)
    bypassed = _simulate(raw, feeds, bypass=True)
    for d, s, b in zip(dygraph, as_saved, bypassed):
        print('export in float vs dygraph QAT: as saved %.1f dB, bypassed %.1f dB' % (
            snr_db(d, s), snr_db(d, b)))
        assert snr_db(d, b) > 60, snr_db(d, b)
        assert snr_db(d, b) > snr_db(d, s) + 10, (snr_db(d, s), snr_db(d, b))
    with trained_simulation(raw) as sim_dir:
        assert sim_dir != raw
        deployed_bypassed = paddle_predict(sim_dir, feeds, int8=True)
    for a, b in zip(paddle_predict(raw, feeds, int8=True), deployed_bypassed):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_a_ptq_export_is_simulated_as_it_is(lite, tmp_path):
    """PTQ's default export has no such pairs; an ``onnx_format`` one has, but oneDNN needs
    them there (it deploys them), so its simulation keeps them too."""
    from ppdet.slim.quant import quantize_post
    from test_quant import images
    assert not output_observers(load_program(lite[1])[0].global_block())
    onnx_style = quantize_post(lite[0], images(4), str(tmp_path / 'onnx'), algo='abs_max',
                               batch_nums=4, onnx_format=True)
    assert output_observers(load_program(onnx_style)[0].global_block())
    for model_dir in (lite[1], onnx_style):
        with trained_simulation(model_dir) as sim_dir:
            assert sim_dir == model_dir


def test_the_bypassed_copy_runs_as_evaluate_exported_simulates(qat_lite):
    """The copy ``trained_simulation`` saves, run through Paddle Inference without oneDNN
    (what ``evaluate_exported(simulate=True)`` runs), gives the bypassed program's
    detections, not the as-saved program's."""
    from ppdet.deploy.predictors import PaddlePredictor
    _, _, full, _, feeds = qat_lite
    one = {k: v[:1] for k, v in feeds.items()}
    with trained_simulation(full) as sim_dir:
        pred = PaddlePredictor(sim_dir, enable_mkldnn=False)
    got = np.asarray(pred.run(one)['bbox']).reshape(-1, 6)
    bypassed = np.asarray(_simulate(full, one, bypass=True)[0]).reshape(-1, 6)
    as_saved = np.asarray(_simulate(full, one, bypass=False)[0]).reshape(-1, 6)
    assert len(got) > 0 and got.shape == bypassed.shape
    np.testing.assert_allclose(got, bypassed, rtol=1e-5, atol=1e-5)
    assert got.shape != as_saved.shape or np.abs(got - as_saved).max() > 1e-4
