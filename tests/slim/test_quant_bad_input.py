"""Bad input to post_quant.py and QAT (slim/quantization/train.py): refused in one line
before the work, with a did-you-mean where a name is misspelt (audit 2026-12-05).

The scripts run in a subprocess where the exit code and the missing traceback are the point,
else their ``main()`` runs in-process on the tiny config (``run_main`` turns the ValueError
into the one line)."""
import os

import numpy as np
import pytest
from slim_script_runner import write_tiny_config, fail as _fail, run_main as _main


POST_QUANT = 'slim/quantization/post_quant.py'
QAT = 'slim/quantization/train.py'
REPORTS = ('quant_report.json', 'quant_report.md', 'quant_report_deployed.json',
           'quant_report_deployed.md')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory, tiny_dataset):
    """The tiny config, a checkpoint of its random model and that model exported fp32."""
    import paddle
    from ppdet.core.workspace import create, load_config
    from ppdet.data import build_dataset
    from ppdet.engine.export import export_model
    from ppdet.utils.checkpoint import save_checkpoint
    tmp = tmp_path_factory.mktemp('quant_bad_input')
    config = write_tiny_config(str(tmp), tiny_dataset, max_iters_per_epoch=1)
    cfg = load_config(config)
    paddle.seed(0)
    model = create(cfg['architecture'], cfg)
    ckpt = save_checkpoint(model, str(tmp / 'fp32_ckpt'), meta={
        'architecture': cfg['architecture'], 'config': config,
        'num_classes': cfg['num_classes'], 'steps': []})
    fp32 = str(tmp / 'fp32')
    export_model(model, cfg, fp32, build_dataset(cfg, 'TestDataset').label_list())
    return {'tmp': tmp, 'config': config, 'fp32': fp32, 'ckpt': ckpt}


def _calib_images(n=2, size=96):
    rng = np.random.RandomState(0)
    return [rng.randint(0, 255, (size, size, 3)).astype('uint8') for _ in range(n)]


# -- finding 3: --output_dir a file --------------------------------------------------------
def test_post_quant_output_dir_a_file_is_refused_before_the_export(tiny):
    out = tiny['tmp'] / 'a_file'
    out.write_text('not a model dir')
    err = _fail(POST_QUANT, '-c', tiny['config'], '-o', 'weights=%s' % tiny['ckpt'],
                '--output_dir', out, '--algo', 'abs_max', '--batch_nums', '1')
    assert err.startswith('error: --output_dir: %s is a file, not a directory' % out), err
    assert not os.path.exists(str(out) + '_fp32')   # nothing exported
    assert out.read_text() == 'not a model dir'


def test_post_quant_output_under_a_file_is_refused_with_model_dir(monkeypatch, tiny):
    blocker = tiny['tmp'] / 'blocker'
    blocker.write_text('x')
    with pytest.raises(ValueError, match=r'--output_dir: .*blocker is a file, not a directory '
                                         r'\(a folder of .*blocker/int8\)'):
        _main(monkeypatch, POST_QUANT, '-c', tiny['config'], '--model_dir', tiny['fp32'],
              '--output_dir', blocker / 'int8', '--algo', 'abs_max', '--batch_nums', '1')


# -- finding 5: --keep_worst keeping every quantizable layer fp32 ----------------------------
def test_keep_worst_every_layer_is_refused_before_anything_is_written(monkeypatch, tiny):
    from ppdet.slim.quant import quantize_post_with_report, quantized_layers
    n = len(quantized_layers(tiny['fp32']))
    assert n > 1
    out = tiny['tmp'] / 'keep_all'
    with pytest.raises(ValueError, match=r'--keep_worst 500 would keep every one of the %d '
                                         r'layer\(s\) PTQ quantizes .* no int8 layer; give '
                                         r'--keep_worst at most %d' % (n, n - 1)):
        _main(monkeypatch, POST_QUANT, '-c', tiny['config'], '--model_dir', tiny['fp32'],
              '--output_dir', out, '--algo', 'abs_max', '--batch_nums', '1',
              '--keep_worst', '500')
    assert not os.path.exists(str(out))
    # the library call too, and the layers already kept fp32 count
    skip = quantized_layers(tiny['fp32'])[:2]
    with pytest.raises(ValueError, match=r'--keep_worst %d would keep every one of the %d'
                                         % (n - 2, n - 2)):
        quantize_post_with_report(tiny['fp32'], _calib_images(), str(out), keep_worst=n - 2,
                                  skip_tensors=skip, algo='abs_max', batch_nums=1)
    assert not os.path.exists(str(out))


# -- finding 4: the reports of the model a new one replaces ----------------------------------
def test_new_ptq_model_removes_the_previous_runs_reports_only(tiny):
    from ppdet.slim.quant import quantize_post
    out = tiny['tmp'] / 'int8_reports'
    out.mkdir()
    for name in REPORTS + ('notes.md', 'quant_notes.json'):
        (out / name).write_text('{"kept_fp32": ["from the first run"]}')
    quantize_post(tiny['fp32'], _calib_images(), str(out), algo='abs_max', batch_nums=1)
    left = sorted(os.listdir(str(out)))
    assert not set(REPORTS) & set(left), left
    assert 'notes.md' in left and 'quant_notes.json' in left   # not this tool's files
    assert 'infer_cfg.yml' in left and 'model.pdmodel' in left


# -- PostQuant section values of the wrong type (PTQ's side of finding 1) ---------------------
@pytest.mark.parametrize('override,match', [
    ('PostQuant.batch_nums=abc', r"PostQuant.batch_nums must be an integer, got 'abc'"),
    ('PostQuant.keep_worst=-1', r'--keep_worst must be >= 0, got -1'),
    ('PostQuant.algo=histt', r"unknown PTQ algo 'histt'; did you mean 'hist'"),
])
def test_post_quant_section_values_are_checked(monkeypatch, tiny, override, match):
    out = tiny['tmp'] / 'never'
    with pytest.raises(ValueError, match=match):
        _main(monkeypatch, POST_QUANT, '-c', tiny['config'], '--model_dir', tiny['fp32'],
              '--output_dir', out, '-o', override)
    assert not os.path.exists(str(out))


# -- finding 1: Quant values PaddleSlim asserts on ------------------------------------------
@pytest.mark.parametrize('config,match', [
    ({'weight_quantize_type': 'foo'},
     r"unknown weight_quantize_type 'foo' \(choose from channel_wise_abs_max, abs_max\)"),
    ({'weight_quantize_type': 'chanel_wise_abs_max'},
     r"did you mean 'channel_wise_abs_max'"),
    ({'activation_quantize_type': 'range_abs_max'},
     r"unknown activation_quantize_type 'range_abs_max'.*choose from moving_average_abs_max"),
    ({'weight_bits': 32}, r'weight_bits must be an integer in \[1, 16\], got 32'),
    ({'activation_bits': '8'}, r"activation_bits must be an integer in \[1, 16\], got '8'"),
    ({'moving_rate': 1.5}, r'moving_rate must be a number in \(0, 1\)'),
    ({'quantizable_layer_type': ['Conv2d']}, r"unknown quantizable_layer_type 'Conv2d'; did you "
                                             r"mean 'Conv2D'"),
    ({'use_pact': 'flase'}, r"use_pact must be true or false, got 'flase'"),
])
def test_qat_step_refuses_values_paddleslim_asserts_on(config, match):
    from ppdet.slim.qat import QATStep
    with pytest.raises(ValueError, match=match):
        QATStep(config)


def test_qat_step_takes_numbers_yaml_reads_as_text_or_float():
    """``-o Quant.moving_rate=9e-1`` is text to YAML 1.1 and ``weight_bits: 8.0`` a float:
    both are the numbers they say (they were refused); 8.5 bits still are not."""
    from ppdet.slim.qat import QATStep
    step = QATStep({'moving_rate': '9e-1', 'weight_bits': 8.0})
    assert step.config['moving_rate'] == 0.9 and step.config['weight_bits'] == 8
    assert isinstance(step.config['weight_bits'], int)
    with pytest.raises(ValueError, match=r'weight_bits must be an integer in \[1, 16\], got 8.5'):
        QATStep({'weight_bits': 8.5})


def test_qat_script_bad_quant_value_is_one_line(tiny):
    err = _fail(QAT, '-c', tiny['config'], '-o', 'pretrain_weights=%s' % tiny['ckpt'],
                'Quant.weight_quantize_type=foo')
    assert ("section Quant of %s with the -o Quant.* overrides): unknown weight_quantize_type "
            "'foo'" % tiny['config']) in err, err


# -- finding 2: a not_quant_pattern typo -----------------------------------------------------
def test_qat_not_quant_pattern_typo_names_the_close_layers(tiny):
    from ppdet.core.workspace import create, load_config
    from ppdet.slim.qat import QATStep
    cfg = load_config(tiny['config'])
    with pytest.raises(ValueError, match=r"not_quant_pattern 'yolo_head.yolo_outpt' matches no "
                                         r"Conv2D/Linear layer of the model; did you mean "
                                         r"'yolo_head.yolo_output'"):
        QATStep({'not_quant_pattern': 'yolo_head.yolo_outpt'}, cfg).apply(
            create(cfg['architecture'], cfg))
    # the right pattern keeps the output convs float; a record restores without the check
    model, record = QATStep({'not_quant_pattern': 'yolo_head.yolo_output'}, cfg).apply(
        create(cfg['architecture'], cfg))
    assert record['not_quant_pattern'] == ['yolo_head.yolo_output']
    QATStep.restore(create(cfg['architecture'], cfg),
                    dict(record, not_quant_pattern=['gone.layer']))


def test_qat_script_not_quant_pattern_typo_is_refused(tiny):
    err = _fail(QAT, '-c', tiny['config'], '-o', 'pretrain_weights=%s' % tiny['ckpt'],
                '--not_quant_pattern', 'yolo_head.yolo_outpt')
    assert "did you mean 'yolo_head.yolo_output'" in err, err
    assert not os.path.exists(os.path.join(str(tiny['tmp']), 'output', 'tiny',
                                           'model_final.pdparams'))


def test_qat_resume_with_other_quant_settings_is_refused(tiny):
    """-r with --use_pact or -o Quant.weight_quantize_type=abs_max went on with the recorded
    settings (channel-wise, no PACT), exit 0, without a word."""
    from slim_script_runner import run_script
    save = str(tiny['tmp'] / 'qat')
    run = run_script(QAT, '-c', tiny['config'], '-o', 'pretrain_weights=%s' % tiny['ckpt'],
                     'epoch=1', 'save_dir=%s' % save)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    latest = os.path.join(save, os.path.splitext(os.path.basename(tiny['config']))[0], 'latest')
    for extra, said in ((['--use_pact'], 'use_pact True (checkpoint: False)'),
                        (['-o', 'Quant.weight_quantize_type=abs_max'],
                         'weight_quantize_type abs_max (checkpoint: channel_wise_abs_max)')):
        err = _fail(QAT, '-c', tiny['config'], '-r', latest, '-o', 'epoch=2',
                    'save_dir=%s' % save, *extra)
        assert ('-r %s continues the quantization-aware training its record names, but this '
                'run gives other settings: %s' % (latest, said)) in err, err
    run = run_script(QAT, '-c', tiny['config'], '-r', latest, '-o', 'epoch=2',
                     'save_dir=%s' % save)       # the recorded settings: resumed
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
