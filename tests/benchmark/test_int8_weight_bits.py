"""ppdet/benchmark/int8_weight_bits.py: how many bits a deployed oneDNN int8 conv's weights
have on this CPU (read back from the kernel), which convs oneDNN halves in a model, and the
model copy that simulates the halving.  The CPU decides the answer (without VNNI the s8
convs get 7-bit weights); the tests check that the readback, the verbose log and the
emulation agree with each other on whatever CPU runs them."""
import os
import sys

import numpy as np
import paddle
import pytest

from ppdet.benchmark.int8_weight_bits import (conv_input_types, emulation_copy,
                                              halved_weights, photo_agreement,
                                              readback_summary, single_conv_probe)
from ppdet.utils.static_graph import load_program

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'slim'))


def test_readback_summary_tells_8_from_7_bits():
    stored = np.array([[-127., -3., 0., 5., 64., 127.]])
    assert readback_summary(stored, stored.copy())['bits'] == 8
    s = readback_summary(stored, np.array([[-126., -4., 0., 6., 64., 128.]]))
    assert (s['bits'], s['even'], s['max_abs_diff']) == (7, 1.0, 1)
    assert (s['odd_moved_up'], s['odd_moved_down']) == (0.75, 0.25)
    assert s['equal_to_stored'] == round(2 / 6, 4)
    # two steps off, or odd values changed: neither 8 nor 7 bits
    assert readback_summary(stored, stored + 2)['bits'] is None
    assert readback_summary(stored, np.array([[-127., -3., 0., 5., 64., 125.]]))['bits'] is None


def test_halved_weights_are_even_and_within_one_step():
    rng = np.random.RandomState(0)
    stored = rng.randint(-127, 128, (8, 4, 3, 3)).astype('float32')
    stored[:, 0, 0, 0] = 127  # every channel reaches the top of the range, as PTQ's do
    out = halved_weights(stored, rng.rand(8) + 0.01)
    assert np.all(out % 2 == 0) and np.abs(out - stored).max() == 1
    even = stored % 2 == 0
    assert np.array_equal(out[even], stored[even])


@pytest.fixture(scope='module')
def probes(tmp_path_factory):
    work = str(tmp_path_factory.mktemp('probe'))
    return {kind: single_conv_probe(work, signed=kind.startswith('s8'),
                                    batch_norm=kind.endswith('bn'))
            for kind in ('s8', 's8_bn', 'u8')}


def test_u8_conv_runs_its_stored_weights(probes):
    u8 = probes['u8']
    assert (u8['input'], u8['wei_adjust'], u8['bits'], u8['equal_to_stored']) == (
        'u8', 1.0, 8, 1.0)
    assert u8['max_fraction_error'] < 1e-3  # the readback lands on integers


def test_s8_conv_weights_match_what_the_verbose_log_says(probes):
    s8 = probes['s8']
    assert s8['input'] == 's8' and s8['max_fraction_error'] < 1e-3
    if s8['wei_adjust'] == 0.5:  # a CPU without VNNI: every weight halved, ties both ways
        assert s8['bits'] == 7 and s8['equal_to_halved_emulation'] == 1.0
        assert 0.3 < s8['odd_moved_up'] < 0.7
    else:
        assert (s8['wei_adjust'], s8['bits']) == (1.0, 8)


def test_readback_sees_through_a_folded_batch_norm(probes):
    """oneDNN folds the BatchNorm into the conv's weights; the readback divides its gain
    out and finds the same integers (halved or not, as the verbose log says)."""
    bn = probes['s8_bn']
    assert bn['batch_norm'] and bn['max_fraction_error'] < 1e-3
    assert bn['bits'] == (7 if bn['wei_adjust'] == 0.5 else 8)


@pytest.fixture(scope='module')
def int8_detector(tmp_path_factory):
    """The tiny thin-ResNet18 YOLOv3 (ReLU backbone: u8 inputs; leaky-ReLU neck and the
    image: s8), exported and post-training quantized."""
    from test_ptq_deployed import resnet_cfg
    from test_quant import images

    import ppdet.modeling  # noqa: F401
    from ppdet.core.workspace import create
    from ppdet.engine.export import export_model
    from ppdet.slim.quant import quantize_post
    paddle.seed(3)
    cfg = resnet_cfg()
    out = tmp_path_factory.mktemp('weight_bits')
    export_model(create('YOLOv3', cfg), cfg, str(out / 'fp32'), ['a', 'b'])
    return quantize_post(str(out / 'fp32'), images(4), str(out / 'int8'), algo='abs_max',
                         batch_nums=4)


@pytest.fixture(scope='module')
def convs(int8_detector):
    return conv_input_types(int8_detector)


def test_conv_input_types_finds_s8_and_u8_convs(int8_detector, convs, probes):
    assert {c['input'] for c in convs} == {'s8', 'u8'}, convs
    assert convs[0]['input'] == 's8'  # the first conv reads the (signed, normalized) image
    # u8 exactly where the conv's input is a ReLU output (or pooled / upsampled from one)
    from ppdet.benchmark.int8_weight_bits import _non_negative
    from ppdet.slim.quant_report import _trace_back
    from ppdet.utils.static_graph import op_producers
    block = load_program(int8_detector)[0].global_block()
    producers = op_producers(block)
    sources = {op.input('Filter')[0]: _trace_back(op.input('Input')[0], producers)[0]
               for op in block.ops if op.type in ('conv2d', 'depthwise_conv2d')}
    assert all((c['input'] == 'u8') == _non_negative(sources[c['weight']], producers)
               for c in convs)
    assert all(c['wei_adjust'] == 1.0 for c in convs if c['input'] == 'u8')
    # the s8 convs are halved exactly when the probe's s8 conv was
    assert {c['wei_adjust'] for c in convs if c['input'] == 's8'} == {probes['s8']['wei_adjust']}


def _weights(model_dir, names):
    scope = load_program(model_dir)[3]
    return {n: np.array(scope.find_var(n).get_tensor()) for n in names}


def _ops(model_dir, op_type):
    return [op for op in load_program(model_dir)[0].global_block().ops if op.type == op_type]


def test_emulation_copy_halves_the_named_weights_only(int8_detector, convs, tmp_path):
    named = [c['weight'] for c in convs if c['input'] == 's8']
    copy = emulation_copy(int8_detector, str(tmp_path / 'halved'), halved=named)
    names = [c['weight'] for c in convs]
    before, after = _weights(int8_detector, names), _weights(copy, names)
    for n in names:
        if n in named:
            assert np.all(after[n] % 2 == 0) and np.abs(after[n] - before[n]).max() == 1
        else:
            assert np.array_equal(before[n], after[n])
    with pytest.raises(ValueError, match='not an onnx_format=False int8 model'):
        emulation_copy(copy, str(tmp_path / 'again'), halved=['no_such_weight'])


def test_emulation_copy_quantizes_u8_inputs_to_255_levels(int8_detector, convs, tmp_path):
    """A u8 input is simulated with 9-bit fake quantization (255 levels for x >= 0) and the
    convs it feeds dequantize with that width; the simulation then moves towards fp32."""
    from ppdet.slim.quant import calibration_feeds, stack_feeds
    from ppdet.slim.quant_report import layer_report
    from test_quant import images
    unsigned = [c['weight'] for c in convs if c['input'] == 'u8']
    copy = emulation_copy(int8_detector, str(tmp_path / 'u8'), unsigned=unsigned)
    bits = [op.attr('bit_length') for op in _ops(copy, 'fake_quantize_range_abs_max')]
    assert set(bits) == {8, 9} and set(
        op.attr('bit_length') for op in _ops(int8_detector, 'fake_quantize_range_abs_max')) == {8}
    widths = {tuple(op.attr('quant_bits'))
              for op in _ops(copy, 'fake_channel_wise_dequantize_max_abs')}
    assert widths == {(8, 8), (8, 9)}
    fp32 = os.path.join(os.path.dirname(int8_detector), 'fp32')
    feeds = stack_feeds(calibration_feeds(fp32, images(2, seed=5)))
    snr = {d: {r['weight']: r['accumulated']['snr_db'] for r in layer_report(fp32, d, feeds)}
           for d in (int8_detector, copy)}
    gain = [snr[copy][w] - snr[int8_detector][w] for w in unsigned]
    assert np.mean(gain) > 1.0, gain  # twice the levels: ~6 dB on those inputs' own error
    with pytest.raises(ValueError, match='not a conv with a quantized input'):
        emulation_copy(int8_detector, str(tmp_path / 'bad'), unsigned=['no_such_weight'])


def test_photo_agreement_runs_deployed_and_three_simulations(int8_detector, photo, tmp_path):
    from test_quant import images
    fp32 = os.path.join(os.path.dirname(int8_detector), 'fp32')
    res = photo_agreement(fp32, int8_detector, [photo] + images(1, seed=7), str(tmp_path))
    assert res['convs'] > 0 and res['detections'] > 0
    for run in ('deployed', 'sim8', 'sim_u8', 'sim_cpu'):
        assert 0.0 <= res[run] <= 100.0, (run, res)
    if res['convs_halved']:  # a CPU without VNNI: the halved weights get their own copy
        assert os.path.isfile(str(tmp_path / 'sim_cpu' / 'model.pdmodel'))
    else:  # nothing halved: sim_cpu is sim_u8's run, not a second copy
        assert res['sim_cpu'] == res['sim_u8'] and not os.path.exists(str(tmp_path / 'sim_cpu'))
