"""Ctrl-C in tools/export_model.py and slim/quantization/post_quant.py: they said only
``interrupted``; now what is left in the output dir and how to go on (both write through a
staged dir, so the dir is as it was).  The interrupt is raised inside the real run, at the
step named in each test."""
import os

import paddle
import pytest

from ppdet.core.workspace import create, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORT = os.path.join(ROOT, 'tools', 'export_model.py')
POST_QUANT = os.path.join(ROOT, 'slim', 'quantization', 'post_quant.py')


@pytest.fixture(scope='module')
def weights(tmp_path_factory, tiny_dataset):
    from config_writer import write_tiny_config
    from ppdet.utils.checkpoint import save_checkpoint
    tmp = tmp_path_factory.mktemp('script_interrupts')
    config = write_tiny_config(tmp, tiny_dataset)
    cfg = load_config(config)
    paddle.seed(0)
    path = save_checkpoint(create(cfg['architecture'], cfg), str(tmp / 'w'), meta={
        'architecture': cfg['architecture'], 'num_classes': cfg['num_classes'], 'steps': []})
    return config, path


def _script(path, argv, monkeypatch, capsys):
    from script_main import run_script_main
    code, err = run_script_main(path, argv, monkeypatch, capsys)
    return code, [line for line in err.splitlines() if line]


def _ctrl_c(*a, **k):
    raise KeyboardInterrupt


def test_ctrl_c_in_an_export_says_the_dir_is_as_it_was(weights, tmp_path, monkeypatch, capsys):
    import ppdet.deploy.program_fixes as fixes
    config, path = weights
    monkeypatch.setattr(fixes, 'rewrite_for_onednn', _ctrl_c)   # the model is half written
    code, err = _script(EXPORT, ['-c', config, '-o', 'weights=%s' % path, '--output_dir',
                                 tmp_path], monkeypatch, capsys)
    out = os.path.join(str(tmp_path), 'tiny')
    assert code == 130 and err[-2:] == [
        'the export was not finished: %s is as it was (an export is written beside it and '
        'moved in complete); run the same command again' % out, 'interrupted'], err
    assert os.listdir(str(tmp_path)) == []


def test_ctrl_c_in_a_calibration_says_the_dir_is_as_it_was(weights, tmp_path, monkeypatch,
                                                           capsys):
    import ppdet.slim.quant as quant
    config, path = weights
    monkeypatch.setattr(quant, 'quantize_post', _ctrl_c)
    out = tmp_path / 'int8'
    code, err = _script(POST_QUANT, ['-c', config, '-o', 'weights=%s' % path, '--output_dir',
                                     out, '--batch_nums', 1], monkeypatch, capsys)
    assert code == 130 and err[-2:] == [
        'the int8 model was not written: %s is as it was (it is written beside it and moved '
        'in complete); run the same command again' % out, 'interrupted'], err
    assert sorted(os.listdir(str(tmp_path))) == ['int8_fp32']     # the fp32 export it starts from


def test_ctrl_c_in_the_export_after_qat_names_the_export_command(weights, tmp_path, monkeypatch,
                                                                 capsys):
    """slim/quantization/train.py --save_inference: Ctrl-C in the final export said only
    'interrupted', and running the same command again trained again."""
    import ppdet.engine.export as export
    config, path = weights
    monkeypatch.setattr(export, 'export_checkpoint', _ctrl_c)
    out = tmp_path / 'int8_model'
    code, err = _script(os.path.join(ROOT, 'slim', 'quantization', 'train.py'), [
        '-c', config, '-o', 'pretrain_weights=%s' % path, 'save_dir=%s' % (tmp_path / 'qat'),
        'epoch=1', 'max_iters_per_epoch=1', '--save_inference', out], monkeypatch, capsys)
    final = os.path.join(str(tmp_path / 'qat'), 'tiny', 'model_final')
    assert code == 130 and err[-2:] == [
        'the training is done and saved (%s); the export was not finished (%s is as it was): '
        'export it with  python tools/export_model.py -c %s -o weights=%s --output_dir %s'
        % (final, out, config, final, out), 'interrupted'], err
    assert os.path.isfile(final + '.pdparams')
