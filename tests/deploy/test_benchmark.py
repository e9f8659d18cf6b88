"""Timing helpers: stats, interleaving, speed-up ratios."""
import time

import pytest

from ppdet.deploy import (Preprocessor, create_predictor, interleaved_latency, load_infer_cfg,
                          speedup_ratios, time_predictor)
from ppdet.deploy.benchmark import (StageTimer, idle_pause_s, latency_stats, order_effect,
                                   paired_ratio_interval)


def test_latency_stats_and_speedup_ratios():
    s = latency_stats([1, 2, 3, 4, 10])
    assert s['mean_ms'] == 4 and s['p50_ms'] == 3 and s['min_ms'] == 1
    assert abs(s['p90_ms'] - 7.6) < 1e-9
    r = speedup_ratios({'fp32': 60., 'int8': 30., 'slow': 120.}, 'fp32')
    assert r == {'fp32': 1.0, 'int8': 2.0, 'slow': 0.5}
    with pytest.raises(ValueError, match="baseline 'x'"):
        speedup_ratios({'a': 1.}, 'x')


def test_interleaved_latency_alternates_and_computes_ratios():
    calls = []

    def runner(name, ms):
        def run():
            calls.append(name)
            time.sleep(ms / 1e3)
        return run

    res = interleaved_latency({'slow': runner('slow', 8), 'fast': runner('fast', 2)},
                              repeats=4, warmup=1, baseline='slow', pause_s=0.001)
    # warm-up, then forward / reverse order in turn
    assert calls == ['slow', 'fast'] + ['slow', 'fast', 'fast', 'slow'] * 2
    # sleeps only overshoot (a loaded machine wakes them late): order and ratio, not values
    assert res['median_ms']['slow'] > res['median_ms']['fast'] >= 2
    assert res['ratios']['slow'] == 1.0 and res['ratios']['fast'] == pytest.approx(
        res['median_ms']['slow'] / res['median_ms']['fast']) and res['ratios']['fast'] > 1
    assert len(res['samples_ms']['fast']) == 4
    assert res['ratio_interval']['slow'] == [1.0, 1.0]
    assert 1 < res['ratio_interval']['fast'][0] <= res['ratio_interval']['fast'][1]


def test_paired_ratio_interval_cancels_drift_between_rounds():
    # the machine slows down 3x over the rounds, the target is always half the baseline:
    # the medians' ratio is right, and per-round pairing makes the interval exact
    drift = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0]
    samples = {'base': [100 * d for d in drift], 'fast': [50 * d for d in drift],
               'noisy': [50 * d * j for d, j in zip(drift, (0.8, 1.3, 0.9, 1.2, 1.0, 0.7))]}
    got = paired_ratio_interval(samples, 'base')
    assert got['base'] == [1.0, 1.0] and got['fast'] == pytest.approx([2.0, 2.0])
    low, high = got['noisy']
    assert low < 2.0 < high and high - low > 0.2
    assert paired_ratio_interval(samples, 'base') == got            # a fixed seed
    with pytest.raises(ValueError, match='not paired'):
        paired_ratio_interval({'base': [1, 2], 'x': [1]}, 'base')
    with pytest.raises(ValueError, match="baseline 'nope'"):
        paired_ratio_interval(samples, 'nope')


def test_order_effect_sees_a_configuration_slowed_by_the_others():
    last = []

    def run(name, ms_after_self, ms_after_other):
        def go():
            time.sleep((ms_after_self if last and last[-1] == name else ms_after_other) / 1e3)
            last.append(name)
        return go

    # 'cold' is slow whenever another configuration ran just before it (a cache it shares),
    # 'steady' takes the same time either way
    preds = {'cold': run('cold', 2, 12), 'steady': run('steady', 4, 4), 'other': run('other', 1, 1)}
    res = order_effect(preds, ['cold', 'steady'], blocks=2, rounds=3, back_to_back=4,
                       pause_s=0.001)
    assert set(res) == {'cold', 'steady'}
    for t in res:
        assert res[t]['back_to_back']['count'] == 8 and res[t]['interleaved']['count'] == 6
        assert res[t]['ratio'] == pytest.approx(
            res[t]['interleaved']['p50_ms'] / res[t]['back_to_back']['p50_ms'])
    # back to back 'cold' follows itself after its first run; interleaved it never does
    assert res['cold']['ratio'] > 2.5
    assert res['steady']['ratio'] < res['cold']['ratio'] / 2
    with pytest.raises(ValueError, match=r"\['nope'\] not among"):
        order_effect(preds, ['nope'])
    with pytest.raises(ValueError, match='--blocks must be at least 1, got 0'):
        order_effect(preds, ['cold'], blocks=0)


def test_interleaved_latency_on_a_tiny_model(tiny_model_dir, images):
    inputs = Preprocessor(load_infer_cfg(tiny_model_dir))(images[:1])
    preds = {'paddle': create_predictor(tiny_model_dir, 'paddle'),
             'paddle_no_onednn': create_predictor(tiny_model_dir, 'paddle', enable_mkldnn=False),
             'onnx': create_predictor(tiny_model_dir, 'onnx')}
    res = interleaved_latency({k: (lambda p=p: p.run(inputs)) for k, p in preds.items()},
                              repeats=6, warmup=2, baseline='paddle', pause_s=0.01)
    assert set(res['ratios']) == set(preds) and res['ratios']['paddle'] == 1.0
    for name, ratio in res['ratios'].items():
        expect = res['median_ms']['paddle'] / res['median_ms'][name]
        assert ratio == pytest.approx(expect) and ratio > 0


def test_time_predictor_and_stage_timer(tiny_model_dir, images):
    pred = create_predictor(tiny_model_dir, 'paddle')
    inputs = Preprocessor(load_infer_cfg(tiny_model_dir))(images[:1])
    s = time_predictor(pred, inputs, warmup=1, repeats=5)
    assert s['count'] == 5 and 0 < s['min_ms'] <= s['p50_ms'] <= s['p90_ms']
    assert s['peak_rss_mb'] > 50                       # paddle is loaded in this process
    timer = StageTimer()
    for _ in range(3):
        with timer.stage('inference'):
            pred.run(inputs)
    assert timer.summary()['inference']['count'] == 3


def test_idle_pause_outlasts_openmp_spin_with_worker_threads():
    # Paddle's Intel OpenMP workers spin 200 ms (KMP_BLOCKTIME) after a parallel region
    assert idle_pause_s(1) == 0.05
    assert idle_pause_s(2) > 0.2 and idle_pause_s(8) == idle_pause_s(2)
