"""The latency sweep over rows x runtimes: ratios, the agreement check before timing,
quantized rows, and failures that are recorded, never dropped."""
import numpy as np
import pytest

from ppdet.benchmark.compression_report import format_compression_report
from ppdet.benchmark.latency_sweep import is_quantized, latency_sweep, table_rows
from result_rows import FAST, result_row


def test_table_rows_follows_rows_and_falls_back_without_it():
    a = {'AP': 0.1}
    res = {'rows': ['r578', 'baseline', 'missing'], 'baseline': a, 'r578': a, 'sensity': a}
    assert [n for n, _ in table_rows(res)] == ['r578', 'baseline']
    old = {'r578': a, 'extra': a, 'baseline': a, 'sensity': a, 'time_train_s': 3.0,
           'baseline_weights': 'w', 'sensitivity': {'file': 'f'}}
    assert [n for n, _ in table_rows(old)] == ['baseline', 'sensity', 'r578', 'extra']


def test_ratios_on_a_tiny_model(tiny_model_dir, images):
    rows = [('baseline', result_row(tiny_model_dir, 0.3, 0.1)),
            ('copy', result_row(tiny_model_dir, 0.3, 0.1))]
    lat = latency_sweep(rows, images[:2], runtimes=('paddle_fp32', 'onnx_fp32'), **FAST)
    base_ms = lat['rows']['baseline']['runtimes']['paddle_fp32']['median_ms']
    assert lat['baseline'] == {'row': 'baseline', 'runtime': 'paddle_fp32', 'median_ms': base_ms}
    assert lat['rows']['baseline']['runtimes']['paddle_fp32']['ratio'] == 1.0
    for name in ('baseline', 'copy'):
        for rt, cell in lat['rows'][name]['runtimes'].items():
            assert cell['ratio'] == pytest.approx(base_ms / cell['median_ms']) and cell['ratio'] > 0
            # ONNX of the same model finds the same boxes; the reference has no agreement
            assert (cell['agreement'] is None) == (rt == 'paddle_fp32')
    onnx = lat['rows']['copy']['runtimes']['onnx_fp32']['agreement']
    assert onnx['images'] == 2 and onnx['matched_fraction'] == 1.0


@pytest.mark.slow
def test_quantized_row_runs_int8_checked_against_its_float_graph(yolov3_model_dir, images,
                                                                 yolov3_int8_dir):
    int8_dir = yolov3_int8_dir
    rows = [('baseline', result_row(yolov3_model_dir, 0.3, 0.1)),
            ('post_abs_max', result_row(int8_dir, 0.28, 0.1))]
    assert is_quantized(rows[1][1]) and not is_quantized(rows[0][1])
    lat = latency_sweep(rows, images[:2], runtimes=('paddle_fp32', 'paddle_int8'), **FAST)
    q = lat['rows']['post_abs_max']
    assert q['quantized'] and q['reference'] == 'paddle_float_reference'
    assert list(q['runtimes']) == ['paddle_int8']      # never timed as fp32
    assert q['runtimes']['paddle_int8']['median_ms'] > 0
    assert q['runtimes']['paddle_int8']['agreement']['n_ref'] > 0
    assert list(lat['rows']['baseline']['runtimes']) == ['paddle_fp32']
    md = format_compression_report({'rows': ['baseline', 'post_abs_max'],
                                    'baseline': rows[0][1], 'post_abs_max': rows[1][1]}, lat)
    assert 'match' in [l for l in md.splitlines() if l.startswith('| post_abs_max')][0]


def test_unknown_runtime_and_no_images(tiny_model_dir):
    rows = [('baseline', result_row(tiny_model_dir, 0.3, 0.1))]
    with pytest.raises(ValueError, match="unknown runtime.*tensorrt"):
        latency_sweep(rows, [np.zeros((8, 8, 3), 'uint8')], runtimes=('tensorrt',))
    with pytest.raises(ValueError, match='at least one eval image'):
        latency_sweep(rows, [])


def test_a_runtime_not_available_here_is_listed_and_fails_only_when_required(
        tiny_model_dir, images, tmp_path):
    rows = [('baseline', result_row(tiny_model_dir, 0.3, 0.1))]
    lat = latency_sweep(rows, images[:1], runtimes=('paddle_fp32', 'lite_x86'),
                        lite_env=str(tmp_path / 'no-lite-env'), **FAST)
    r = lat['rows']['baseline']
    assert list(r['runtimes']) == ['paddle_fp32']
    assert 'make lite-env' in r['unavailable']['lite_x86'] and not r['failed']
    assert lat['failures'] == []                    # not available here is not a failure...
    md = format_compression_report({'rows': ['baseline'], 'baseline': rows[0][1]}, lat)
    assert '| baseline | not available here: LiteEnvMissing' in md and 'FAILED' not in md
    required = latency_sweep(rows, images[:1], runtimes=('paddle_fp32', 'lite_x86'),
                             required=('lite_x86',), lite_env=str(tmp_path / 'no-lite-env'),
                             **FAST)
    assert [(f['row'], f['runtime']) for f in required['failures']] == \
        [('baseline', 'lite_x86')]                  # ...unless it was asked for
    assert required['failures'][0]['reason'].startswith('not available here: LiteEnvMissing')


def test_a_runtime_that_breaks_is_a_failure_with_its_reason(tiny_model_dir, images,
                                                            monkeypatch):
    from ppdet.benchmark import latency_sweep as sweep
    real = sweep.make_predictor

    def make(model_dir, runtime, *args):
        if runtime == 'onnx_fp32':
            raise RuntimeError('onnxruntime: bad graph\nsecond line')
        return real(model_dir, runtime, *args)
    monkeypatch.setattr(sweep, 'make_predictor', make)
    rows = [('baseline', result_row(tiny_model_dir, 0.3, 0.1))]
    lat = latency_sweep(rows, images[:1], runtimes=('paddle_fp32', 'onnx_fp32'), **FAST)
    r = lat['rows']['baseline']
    assert list(r['runtimes']) == ['paddle_fp32']
    assert r['failed'] == {'onnx_fp32': 'RuntimeError: onnxruntime: bad graph'}
    assert lat['failures'] == [{'row': 'baseline', 'runtime': 'onnx_fp32',
                                'reason': 'RuntimeError: onnxruntime: bad graph'}]
