"""The main job without training: int8 rows (simulated vs deployed values and agreement,
the QAT twin's schedule, the calibration source, the tables), the cached teacher."""
import os

import numpy as np
import pytest

from ppdet.metrics.metrics import EvalResult
from ppdet.pipeline import main_job
from ppdet.pipeline.main_job import Pipeline, int8_values, qat_twin_name
from ppdet.pipeline.results_table import format_int8_comparison, format_results, int8_reference


def _out(rows):
    rows = np.asarray(rows, 'float32').reshape(-1, 6)
    return {'bbox': rows, 'bbox_num': np.asarray([len(rows)], 'int32')}


def _result(ap):
    return EvalResult({'AP': ap, 'AP50': ap + 0.1}, 'AP', 'COCO')


BOX = [0, 0.9, 10, 10, 50, 50]
OTHER = [1, 0.8, 60, 60, 90, 90]


def test_int8_values_record_both_evaluations_and_their_agreement():
    # the deployed model keeps the first image's box and loses the second image's
    sim = [_out([BOX]), _out([OTHER])]
    dep = [_out([BOX]), _out([])]
    v = int8_values(_result(0.40), _result(0.35), sim, dep)
    assert v['AP_simulated'] == 0.40 and v['AP_deployed'] == 0.35
    assert v['AP50_simulated'] == pytest.approx(0.5)
    assert (v['agreement_matched'], v['agreement_compared']) == (1, 2)
    assert v['agreement_vs_simulated'] == 0.5


def test_deployed_ap_simulates_only_quantized_rows(tiny_config, tmp_path, monkeypatch):
    """The rows hold evaluate_exported's own values: a tiny untrained export (its AP ~0.002,
    different in fp32, simulated and deployed int8) and its 1-batch abs_max PTQ; only the
    quantized row is evaluated twice (simulated, then deployed) and gets their agreement."""
    import ppdet.engine.infer_eval as infer_eval
    from ppdet.core.workspace import load_config
    from ppdet.deploy.compare import detection_agreement
    from ppdet.engine import Trainer
    from ppdet.slim.quant import calibration_images, quantize_post
    cfg = load_config(tiny_config)
    pipe = Pipeline(tiny_config, work_dir=str(tmp_path / 'pipe'))
    fp32 = pipe.export('baseline', Trainer(cfg, mode='eval'))
    int8 = quantize_post(fp32, calibration_images(cfg, 2), pipe.path('inference', 'post_abs_max'),
                         algo='abs_max', batch_nums=1, batch_size=2)
    pipe.record('baseline', {'inference_dir': fp32})
    pipe.record('post_abs_max', {'inference_dir': int8})
    real, calls = infer_eval.evaluate_exported, []

    def spy(cfg, model_dir, simulate=False, **kw):
        calls.append((os.path.basename(model_dir), simulate))
        return real(cfg, model_dir, simulate=simulate, **kw)

    monkeypatch.setattr(infer_eval, 'evaluate_exported', spy)
    base = pipe._deployed_ap('baseline', cfg=cfg)
    row = pipe._deployed_ap('post_abs_max', cfg=cfg)
    assert calls == [('baseline', False), ('post_abs_max', True), ('post_abs_max', False)]
    sim_out, dep_out = [], []
    want_base = real(cfg, fp32)
    sim = real(cfg, int8, simulate=True, outputs=sim_out)
    dep = real(cfg, int8, outputs=dep_out)
    assert len({want_base.primary, sim.primary, dep.primary}) == 3  # the three tell apart

    def values(res, suffix):
        return dict({k + suffix: float(v) for k, v in res.items()}, **{'AP' + suffix: res.primary})

    assert base == dict(values(want_base, '_deployed'), inference_dir=fp32)
    agree = detection_agreement(sim_out, dep_out)  # nothing scores 0.3 here: 0 of 0
    assert row == dict(values(sim, '_simulated'), **values(dep, '_deployed'), inference_dir=int8,
                       agreement_vs_simulated=agree['matched_fraction'],
                       agreement_matched=agree['matched'], agreement_compared=agree['compared'])
    assert pipe.results['post_abs_max'] == row   # recorded in results.json


def test_qat_twin_has_the_qat_schedule_and_lr(tiny_config, tmp_path, monkeypatch):
    trained, scored = {}, {}
    pipe = Pipeline(tiny_config, work_dir=str(tmp_path / 'pipe'), finetune_epochs=2)
    monkeypatch.setattr(pipe, 'train', lambda name, cfg, prepare=None: (
        trained.__setitem__(name, cfg), 'w_' + name)[1])
    monkeypatch.setattr(pipe, 'evaluate', lambda name, w, cfg=None, extra=None, **kw: (
        scored.__setitem__(name, dict(extra or {}, weights=w)), {})[1])
    monkeypatch.setattr(pipe, '_deployed_ap', lambda name, cfg=None: {'AP': 0.1})
    for source in ('baseline', 'r578'):
        pipe.record(source, {'weights': 'w', 'GFLOPs': 1.0, 'size_MB': 1.0})
        pipe.finetuned(source)
        pipe.aware(source)
    assert sorted(trained) == ['finetuned', 'qat_baseline', 'qat_r578', 'r578_finetuned']
    for source in ('baseline', 'r578'):
        twin, qat = trained[qat_twin_name(source)], trained['qat_%s' % source]
        assert twin['epoch'] == qat['epoch'] == 2
        assert twin['LearningRate']['base_lr'] == qat['LearningRate']['base_lr'] == \
            main_job.QAT_LR
        assert scored[qat_twin_name(source)]['parent'] == source
    assert scored['aware']['twin'] == 'finetuned'
    assert scored['r578_aware']['twin'] == 'r578_finetuned'


def test_post_quant_calibrates_on_train_images_explicitly(tmp_path, monkeypatch):
    seen = {}

    class Dataset(object):
        def __init__(self, section):
            self.section = section

        def get_imid2path(self):
            return {i: '%s_%d.jpg' % (self.section, i) for i in range(5)}

    import ppdet.data
    import ppdet.slim.quant
    monkeypatch.setattr(ppdet.data, 'build_dataset', lambda cfg, section: Dataset(section))

    def fake_ptq(model_dir, data, out, **kw):
        seen.update(kw, data=list(data))
        return out, {'first': []}
    monkeypatch.setattr(ppdet.slim.quant, 'quantize_post_with_report', fake_ptq)
    pipe = Pipeline('unused.yml', work_dir=str(tmp_path / 'pipe'), calib_images=3)
    monkeypatch.setattr(pipe, '_deployed_ap', lambda name, cfg=None: dict(pipe.results[name]))
    pipe.record('baseline', {'inference_dir': 'd', 'GFLOPs': 1.0, 'size_MB': 1.0,
                             'input_size': 64})
    pipe.post_quant('baseline', 'hist', cfg={'name': 'cfg'})
    assert seen['calibration_source'] == 'TrainDataset'
    assert seen['data'] == ['TrainDataset_%d.jpg' % i for i in range(3)]
    assert pipe.results['post_hist']['calibration_source'] == 'TrainDataset'


def _row(ap, **kw):
    return dict({'GFLOPs': 1.0, 'size_MB': 2.0, 'input_size': 64, 'AP': ap, 'AP50': ap}, **kw)


def test_tables_compare_int8_with_simulation_and_qat_with_its_twin():
    int8 = dict(agreement_vs_simulated=0.96, agreement_matched=48, agreement_compared=50)
    res = {'rows': ['baseline', 'post_hist', 'finetuned', 'aware', 'r578_aware'],
           'baseline': _row(0.40, AP_deployed=0.40),
           'post_hist': _row(0.39, AP_deployed=0.39, AP_simulated=0.392, quantized='post_hist',
                             parent='baseline', **int8),
           'finetuned': _row(0.45, parent='baseline'),
           'aware': _row(0.44, AP_deployed=0.44, AP_simulated=0.441, quantized='aware',
                         parent='baseline', twin='finetuned', **int8),
           # its twin was not run: judged against the row it came from
           'r578': _row(0.30),
           'r578_aware': _row(0.29, AP_deployed=0.29, AP_simulated=0.29, quantized='aware',
                              parent='r578', twin='r578_finetuned', **int8)}
    assert int8_reference(res, res['aware']) == 'finetuned'
    assert int8_reference(res, res['r578_aware']) == 'r578'
    lines = format_int8_comparison(res).splitlines()
    assert lines[4] == ('| post_hist | 0.3920 | 0.3900 | -0.0020 | 96% (48/50) | baseline | '
                        '0.4000 | -0.0100 |')
    assert lines[5] == ('| aware | 0.4410 | 0.4400 | -0.0010 | 96% (48/50) | finetuned | '
                        '0.4500 | -0.0100 |')
    assert lines[6].startswith('| r578_aware |') and '| r578 | 0.3000 |' in lines[6]
    table = format_results(res)
    assert '| post_hist | 1.0000 (+0.00%) | 2.00 (+0.00%) | 64 | - | 0.390 | 0.390 | 0.390 | ' \
        '0.392 | 96% |' in table
    assert format_int8_comparison({'rows': ['baseline'], 'baseline': _row(0.4)}) == ''


def test_cached_teacher_is_scored_not_trained(tiny_config, tmp_path, monkeypatch):
    scored = {}
    pipe = Pipeline(tiny_config, work_dir=str(tmp_path / 'pipe'), teacher_config=tiny_config,
                    teacher_weights='cache/teacher/model_final')
    monkeypatch.setattr(pipe, 'train', lambda *a, **k: pytest.fail('the teacher was trained'))
    monkeypatch.setattr(pipe, 'evaluate', lambda name, w, cfg=None, extra=None, **kw:
                        scored.__setitem__(name, dict(extra or {}, weights=w)))
    pipe.train_teacher()
    assert scored['teacher'] == {'weights': 'cache/teacher/model_final', 'cached': True}
