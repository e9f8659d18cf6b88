"""Bad input to the slim/ scripts (post_quant, prune, sensitive, distill): one line
``error: <what and the fix>`` before any work or any file is written, never a traceback.

Where the exit code or the interrupt is the point the real script runs in a subprocess;
elsewhere its ``main()`` runs in-process on the tiny config (``run_main`` turns the
ValueError into the one line).
"""
import hashlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ppdet.deploy.infer_cfg import update_infer_cfg
from slim_script_runner import (ROOT, fail as _fail, run_main as _main,
                                script_env as _env, write_tiny_config)


POST_QUANT = 'slim/quantization/post_quant.py'
PRUNE = 'slim/prune/prune.py'
SENSITIVE = 'slim/sensitive/sensitive.py'
DISTILL = 'slim/distillation/distill.py'
PARAM = 'yolo_block.0.0.0.conv.weights'


def _digest(directory):
    out = {}
    for f in sorted(os.listdir(directory)):
        with open(os.path.join(directory, f), 'rb') as fh:
            out[f] = hashlib.sha1(fh.read()).hexdigest()
    return out


@pytest.fixture(scope='module')
def tiny(tmp_path_factory, tiny_dataset):
    """The tiny config (the generated built-in dataset) and its random model exported fp32."""
    from ppdet.core.workspace import create, load_config
    from ppdet.data import build_dataset
    from ppdet.engine.export import export_model
    tmp = tmp_path_factory.mktemp('bad_input_slim')
    config = write_tiny_config(str(tmp), tiny_dataset, max_iters_per_epoch=1)
    cfg = load_config(config)
    fp32 = str(tmp / 'fp32')
    export_model(create(cfg['architecture'], cfg), cfg, fp32,
                 build_dataset(cfg, 'TestDataset').label_list())
    return {'tmp': tmp, 'config': config, 'fp32': fp32, 'num_classes': cfg['num_classes']}


def _calib_images(n=2, size=96):
    rng = np.random.RandomState(0)
    return [rng.randint(0, 255, (size, size, 3)).astype('uint8') for _ in range(n)]


# -- post_quant.py ------------------------------------------------------------------------
def test_post_quant_into_its_own_model_dir_is_refused_before_writing(tiny):
    fp32 = tiny['fp32']
    before = _digest(fp32)
    err = _fail(POST_QUANT, '-c', tiny['config'], '--model_dir', fp32, '--output_dir',
                fp32 + os.sep, '--algo', 'abs_max', '--batch_nums', '1')
    assert 'is the model dir' in err and 'give another --output_dir' in err, err
    assert _digest(fp32) == before  # the fp32 graph, weights and infer_cfg.yml untouched


def test_post_quant_of_an_int8_model_names_the_fp32_one_and_leaves_nothing(tiny):
    from ppdet.slim.quant import quantize_post
    fp32 = tiny['fp32']
    int8 = quantize_post(fp32, _calib_images(), str(tiny['tmp'] / 'int8'), algo='abs_max',
                         batch_nums=2)
    again = str(tiny['tmp'] / 'int8_again')
    with pytest.raises(ValueError, match=r'already quantized .*--model_dir %s$'
                       % re.escape(os.path.abspath(fp32))):
        quantize_post(int8, _calib_images(), again, algo='abs_max', batch_nums=1)
    assert not os.path.exists(again)
    # an int8 graph that lost its label (what a run writing over its model dir left)
    update_infer_cfg(int8, quantized=False)
    with pytest.raises(ValueError, match=r'holds an int8 graph \(\d+ quantize/dequantize ops\)'):
        quantize_post(int8, _calib_images(), again, algo='abs_max', batch_nums=1)
    assert not os.path.exists(again)


@pytest.mark.parametrize('flags,match', [
    (['--batch_nums', '0'], r'--batch_nums must be >= 1, got 0 \(the number of calibration batches\)'),
    (['--batch_size', '-1'], r'--batch_size must be >= 1, got -1'),
    (['--algo', 'histt'], r"unknown PTQ algo 'histt'; did you mean 'hist'\? \(choose from"),
    (['--algo', 'kl'], r"unknown PTQ algo 'kl'; did you mean 'KL'\?"),
])
def test_post_quant_flags_are_refused_by_name(monkeypatch, tiny, flags, match):
    out = str(tiny['tmp'] / 'never')
    with pytest.raises(ValueError, match=match):
        _main(monkeypatch, POST_QUANT, '-c', tiny['config'], '--model_dir', tiny['fp32'],
              '--output_dir', out, *flags)
    assert not os.path.exists(out)


# -- prune.py -------------------------------------------------------------------------------
def test_prune_target_flops_refuses_sensitivities_of_another_model(monkeypatch, tiny, tmp_path):
    from ppdet.core.workspace import create, load_config
    from ppdet.slim.sensitivity import check_made_for, sensitivity
    wider = create('YOLOv3', load_config(tiny['config'], overrides=['YOLOv3FPN.base_channel=64']))
    sens = str(tmp_path / 'wider.json')
    sensitivity(wider, PARAM, lambda m: 1.0, ratios=[0.5], sensitivities_file=sens,
                progress=False, input_size=64)
    check_made_for(sens, wider)  # the model it was made for passes
    with pytest.raises(ValueError, match=r'sensitivities file .*wider.json was made for another '
                                         r'model: .*%s \(file: \[64, ' % re.escape(PARAM)):
        _main(monkeypatch, PRUNE, '-c', tiny['config'], '-o', 'weights=',
              '--target_flops', '0.3', '-s', sens)
    # --pruned_ratios beside --target_flops would be ignored: refused before any work
    with pytest.raises(ValueError, match='so --pruned_ratios would be ignored'):
        _main(monkeypatch, PRUNE, '-c', tiny['config'], '--target_flops', '0.3', '-s', sens,
              '--pruned_ratios', 'r578')
    with pytest.raises(ValueError, match='-s only serves --target_flops'):
        _main(monkeypatch, PRUNE, '-c', tiny['config'], '--pruned_ratios', 'r578', '-s', sens)


def test_sensitivities_of_other_weights_are_warned_about(tiny, tmp_path, ppdet_log):
    """A file measured on other weights of the same model was used by --target_flops
    without a word (it records the weights' hash)."""
    import paddle
    from ppdet.core.workspace import create, load_config
    from ppdet.slim.sensitivity import check_made_for, sensitivity
    paddle.seed(1)
    model = create('YOLOv3', load_config(tiny['config']))
    sens = str(tmp_path / 's.json')
    sensitivity(model, PARAM, lambda m: 1.0, ratios=[0.5], sensitivities_file=sens,
                progress=False, input_size=64)
    check_made_for(sens, model)
    assert 'measured on other weights' not in ppdet_log.text
    paddle.seed(2)
    check_made_for(sens, create('YOLOv3', load_config(tiny['config'])))
    assert ('sensitivities file %s was measured on other weights (recorded by content only) '
            'than the ones pruned here' % sens) in ppdet_log.text


def test_prune_preset_typo_is_named(tiny_det):
    from ppdet.slim.prune import PrunePlan
    with pytest.raises(ValueError, match=r"unknown pruning preset 'r587'; did you mean 'r578'\? "
                                         r"\(presets: r578, sensity"):
        PrunePlan.from_flags(tiny_det, None, 'r587')
    with pytest.raises(ValueError, match=r"unknown pruning preset 'sensitivity'; did you mean "
                                         r"'sensity'\?"):
        PrunePlan.from_flags(tiny_det, 'stem.conv.weights', 'sensitivity')
    # one number is a ratio, not a preset
    with pytest.raises(ValueError, match='no parameters to prune'):
        PrunePlan.from_flags(tiny_det, None, '0.5')
    assert list(PrunePlan.from_flags(tiny_det, 'stem.conv.weights', '0.5').ratios.values()) == [0.5]


# -- sensitive.py ---------------------------------------------------------------------------
@pytest.mark.parametrize('flags,match', [
    (['-p', 'yolo_block.0.0.0.conv.weight'],
     r"unknown parameter 'yolo_block.0.0.0.conv.weight'; did you mean "
     r"'yolo_block.0.0.0.conv.weights'\? \(run prune.py -P to list them\)"),
    (['--eval_images', '0'], r'--eval_images must be >= 1 \(got 0\)'),
    (['--eval_images', '-2'], r'--eval_images must be >= 1 \(got -2\)'),
    (['-s', '{tmp}'], r'sensitivities file .* is a directory; give a file, e.g. -s '),
])
def test_sensitive_bad_flags_are_refused_at_start(monkeypatch, tiny, tmp_path, flags, match):
    flags = [f.format(tmp=tmp_path) for f in flags]
    if '-s' not in flags:
        flags += ['-s', str(tmp_path / 'sens.json')]
    with pytest.raises(ValueError, match=match):
        _main(monkeypatch, SENSITIVE, '-c', tiny['config'], '-o', 'weights=', '-r', '0.5',
              *flags)
    assert os.listdir(str(tmp_path)) == []  # nothing measured, nothing written


def test_sensitive_ctrl_c_says_what_is_saved(tiny, tmp_path):
    sens = str(tmp_path / 'sens.json')
    # every prunable conv x 9 ratios, no feature reuse: far longer than the wait below;
    # random weights score AR100 > 0 (AP would be 0: no loss is defined against 0)
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, SENSITIVE), '-c', tiny['config'], '-o', 'weights=',
         '-s', sens, '--no_cache', '--metric', 'AR100'], cwd=ROOT, env=_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline:
            if os.path.isfile(sens):
                with open(sens) as f:
                    if any(json.load(f)['sensitivities'].values()):
                        break
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and 'Traceback' not in err, err[-3000:]
    with open(sens) as f:
        probes = sum(len(t) for t in json.load(f)['sensitivities'].values())
    assert probes >= 1
    assert err.rstrip().splitlines()[-1] == (
        'interrupted: %d probe%s saved in %s; run the same command again to go on'
        % (probes, '' if probes == 1 else 's', sens)), err[-2000:]


# -- distill.py -----------------------------------------------------------------------------
@pytest.mark.parametrize('script', [DISTILL, 'slim/quantization/train.py'])
def test_save_inference_is_one_rule_for_distill_and_qat(script):
    """Both training scripts export where tools/export_model.py does (OUTPUT_DIR/CONFIG_NAME)
    on the bare flag, into DIR itself on --save_inference DIR (QAT's flag took only a DIR,
    distill's only a boolean, so one command line put the export in two different places)."""
    from ppdet.utils.cli import save_inference_dir
    name = os.path.splitext(os.path.basename(script))[0]
    spec = importlib.util.spec_from_file_location('slim_script_' + name, os.path.join(ROOT, script))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def where(*argv):
        args = mod.build_parser().parse_args(['-c', 'c/x.yml'] + list(argv))
        return save_inference_dir(args, check=False)
    assert where('--save_inference') == os.path.join('output/inference', 'x')
    assert where('--save_inference', 'on') == os.path.join('output/inference', 'x')
    assert where('--save_inference', '--output_dir', 'o') == os.path.join('o', 'x')
    assert where('--save_inference', 'out/int8') == 'out/int8'
    assert where('--save_inference', 'false') is None
    assert where() is None
    with pytest.raises(ValueError, match='--save_inference out/int8 names the export folder '
                                         'itself; --output_dir o names the folder of'):
        where('--save_inference', 'out/int8', '--output_dir', 'o')



def test_teacher_weights_of_another_model_are_refused(tiny, tmp_path):
    import paddle
    from ppdet.core.workspace import create, load_config
    from ppdet.slim.distill import DistillStep
    from ppdet.utils.checkpoint import save_checkpoint
    student_cfg = load_config(tiny['config'])
    wider_cfg = load_config(tiny['config'], overrides=['YOLOv3FPN.base_channel=64'])
    paddle.seed(1)
    wider = save_checkpoint(create('YOLOv3', wider_cfg), str(tmp_path / 'wider'),
                            meta={'steps': [], 'num_classes': tiny['num_classes'],
                                  'config': 'wider.yml'})
    step = DistillStep(tiny['config'], wider, student_cfg=student_cfg)
    with pytest.raises(ValueError, match=r'teacher weights .*wider.pdparams do not fit the model '
                                         r'of .*: [1-9]\d* with another shape .*they were '
                                         r'trained with wider.yml: use that config \(-t wider.yml\)'):
        step.build_teacher()
    # the teacher's own weights load completely
    teacher = create('YOLOv3', student_cfg)
    own = save_checkpoint(teacher, str(tmp_path / 'own'),
                          meta={'steps': [], 'num_classes': tiny['num_classes']})
    built = DistillStep(tiny['config'], own, student_cfg=student_cfg).build_teacher()
    for k, v in teacher.state_dict().items():
        np.testing.assert_array_equal(built.state_dict()[k].numpy(), v.numpy())


def test_prune_py_compares_the_sensitivities_with_the_weights_it_prunes(tiny, tmp_path,
                                                                        monkeypatch, ppdet_log):
    """prune.py --target_flops fingerprinted the model before its pretrain_weights were
    loaded, so a file made on those very weights was said to be 'measured on other
    weights' (an audit); the weights are compared once they are loaded."""
    import paddle
    from ppdet.core.workspace import create, load_config
    from ppdet.slim.sensitivity import sensitivity
    paddle.seed(3)
    model = create('YOLOv3', load_config(tiny['config']))
    ckpt = str(tmp_path / 'w' / 'model_final')
    os.makedirs(os.path.dirname(ckpt))
    paddle.save(model.state_dict(), ckpt + '.pdparams')
    sens = str(tmp_path / 's.json')
    sensitivity(model, PARAM, lambda m: 1.0, ratios=[0.3, 0.6], sensitivities_file=sens,
                progress=False, input_size=64)
    args = ['-c', tiny['config'], '--target_flops', '0.01', '-s', sens, '-o', 'epoch=1']
    _main(monkeypatch, PRUNE, *args, 'pretrain_weights=%s' % ckpt,   # 1 iteration
          'save_dir=%s' % (tmp_path / 'a'))
    assert 'measured on other weights' not in ppdet_log.text
    paddle.seed(4)
    other = str(tmp_path / 'o' / 'model_final')
    os.makedirs(os.path.dirname(other))
    paddle.save(create('YOLOv3', load_config(tiny['config'])).state_dict(), other + '.pdparams')
    _main(monkeypatch, PRUNE, *args, 'pretrain_weights=%s' % other,
          'save_dir=%s' % (tmp_path / 'b'))
    assert 'sensitivities file %s was measured on other weights' % sens in ppdet_log.text
