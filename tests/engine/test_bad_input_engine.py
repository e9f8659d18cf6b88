"""Bad input to training, evaluation, inference and export: a one-line ``error:`` (exit 2)
before any work, or a warning naming the fix; never a silently different run or metric.

Tiny configs on the tiny built-in dataset; the scripts run as subprocesses where the
message and exit code are the point (they fail before any training or evaluation)."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from ppdet.core.workspace import ConfigError, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('tests_root_conftest_engine',
                                               os.path.join(ROOT, 'tests', 'conftest.py'))
_root_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root_conftest)
R18 = os.path.join(ROOT, 'configs', 'builtin', 'yolov3_r18_builtin.yml')
FACE = os.path.join(ROOT, 'configs', 'face_detection', 'blazeface_builtin.yml')
RETINANET = os.path.join(ROOT, 'configs', 'builtin', 'retinanet_r18_builtin.yml')


def fail(script, *args):
    """Run a script that must stop with one ``error:`` line (exit 2); -> that line."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script)] + [str(a) for a in args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-3000:]
    assert 'Traceback' not in out, out[-3000:]
    last = proc.stderr.rstrip().splitlines()[-1]
    assert last.startswith('error: '), out[-3000:]
    return last


@pytest.fixture(scope='module')
def world(tmp_path_factory, tiny_dataset):
    """The tiny config, a config of another backbone, and a checkpoint of the first saved
    after epoch 3 (with optimizer state)."""
    from ppdet.engine import Trainer
    tmp = tmp_path_factory.mktemp('bad_input_engine')
    config = _root_conftest.write_tiny_config(tmp, tiny_dataset)
    other = _root_conftest.write_tiny_config(tmp, tiny_dataset, name='other_backbone.yml',
                                             base=R18)
    t = Trainer(load_config(config), mode='train')
    t._ensure_optimizer()
    prefix = str(tmp / 'ckpt' / 'epoch3')
    t.save(prefix, epoch=3)
    afile = tmp / 'afile'
    afile.write_text('not a directory')
    return {'config': config, 'other': other, 'ckpt': prefix, 'afile': str(afile),
            'tmp': tmp, 'dataset': tiny_dataset}


# -- 1. output paths ----------------------------------------------------------------
def test_output_path_that_is_a_file_is_refused_before_any_work(world):
    cfg, afile, w = world['config'], world['afile'], world['ckpt']
    img = os.path.join(world['dataset'], 'coco', 'val')
    err = fail('tools/infer.py', '-c', cfg, '-o', 'weights=%s' % w, '--infer_dir', img,
               '--output_dir', afile)
    assert '--output_dir: %s is a file, not a directory' % afile in err
    err = fail('tools/eval.py', '-c', cfg, '-o', 'weights=%s' % w, '--output_eval', afile)
    assert '--output_eval: %s is a file' % afile in err
    err = fail('tools/export_model.py', '-c', cfg, '-o', 'weights=%s' % w,
               '--output_dir', afile)
    assert '--output_dir: %s is a file' % afile in err and 'a folder of' in err
    err = fail('tools/train.py', '-c', cfg, '-o', 'save_dir=%s' % afile)
    assert 'save_dir (-o save_dir=DIR): %s is a file' % afile in err


def test_output_path_checks(world, tmp_path):
    from ppdet.utils.fileio import check_output_dir, check_output_file
    check_output_dir(str(tmp_path / 'new' / 'deeper'), '--output_dir')  # made later: fine
    with pytest.raises(ValueError, match='--x: .*afile is a file, not a directory '
                                         r'\(a folder of .*afile/sub/dir\)'):
        check_output_dir(os.path.join(world['afile'], 'sub', 'dir'), '--x')
    with pytest.raises(ValueError, match='is a directory; give a file name'):
        check_output_file(str(tmp_path), '--out')
    check_output_file(str(tmp_path / 'a' / 'model'), '--out')


# -- 2. weights that do not fit -----------------------------------------------------
def test_weights_of_another_model_are_refused_and_pretrain_loads_what_fits(world, ppdet_log):
    from ppdet.engine import Trainer, build_model
    other = load_config(world['other'])
    with pytest.raises(ValueError) as e:
        Trainer(other, mode='eval').load_weights(world['ckpt'])
    msg = str(e.value)
    assert '\n' not in msg
    assert 'do not fit the model of %s' % world['other'] in msg
    assert "tensors missing in the file (backbone." in msg
    assert 'trained with %s' % world['config'] in msg
    with pytest.raises(ValueError, match='do not fit the model'):
        build_model(other, world['ckpt'])          # e.g. a distillation teacher
    t = Trainer(other, mode='train')
    with pytest.raises(ValueError, match=r'-o pretrain_weights='):
        t.resume(world['ckpt'])
    # fine-tuning from it: what fits is loaded, the rest named in a warning
    pre = load_config(world['other'], overrides=['pretrain_weights=%s' % world['ckpt']])
    report_before = len(ppdet_log.messages)
    Trainer(pre, mode='train').load_weights(world['ckpt'])
    assert any('missing in file' in m for m in ppdet_log.messages[report_before:])


def test_eval_with_weights_of_another_backbone_is_one_line(world):
    err = fail('tools/eval.py', '-c', world['other'], '-o', 'weights=%s' % world['ckpt'])
    assert 'do not fit the model' in err and 'use that config (-c %s)' % world['config'] in err


def test_weights_of_the_same_model_load_completely(world):
    import numpy as np
    import paddle
    from ppdet.engine import Trainer
    from ppdet.engine.trainer import deployable
    t = Trainer(load_config(world['config']), mode='eval')
    model = deployable(t.model)
    for v in model.state_dict().values():  # the config's seed would make it the checkpoint
        v.set_value(np.full(v.shape, 7, v.numpy().dtype))
    t.load_weights(world['ckpt'])
    saved = paddle.load(world['ckpt'] + '.pdparams')
    saved.pop('__ppdet_meta__', None)
    state = deployable(t.model).state_dict()
    assert sorted(state) == sorted(saved)
    for k, v in state.items():
        assert np.array_equal(v.numpy(), np.asarray(saved[k])), k


# -- 3. -o weights given to training ------------------------------------------------
def test_weights_given_to_training_warn_to_use_pretrain_weights(world, ppdet_log, tmp_path):
    from ppdet.engine import Trainer
    cfg = load_config(world['config'], overrides=[
        'weights=%s' % world['ckpt'], 'epoch=1', 'max_iters_per_epoch=1',
        'save_dir=%s' % tmp_path])
    Trainer(cfg, mode='train').train()
    warned = [m for m in ppdet_log.messages if 'is not read by training' in m]
    assert len(warned) == 1 and '-o pretrain_weights=%s' % world['ckpt'] in warned[0]


def test_a_run_never_saves_over_the_weights_it_starts_from(world, tmp_path):
    """save_dir is <save_dir>/<config name> whatever the script: prune.py, distill.py or
    QAT started from output/C/model_final replaced it with their own model_final."""
    import shutil
    from ppdet.engine import Trainer
    cfg = load_config(world['config'], overrides=['epoch=1', 'max_iters_per_epoch=1',
                                                  'save_dir=%s' % tmp_path])
    t = Trainer(cfg, mode='train')
    os.makedirs(t.save_dir)
    for ext in ('.pdparams', '.pdopt'):
        shutil.copy(world['ckpt'] + ext, os.path.join(t.save_dir, 'model_final' + ext))
    start = os.path.join(t.save_dir, 'model_final')
    before = os.path.getmtime(start + '.pdparams')
    t.load_weights(start)
    with pytest.raises(ValueError, match='saves its checkpoints in .*tiny, where the weights it '
                                         'starts from .* are: they would be overwritten; give '
                                         'another -o save_dir=DIR'):
        t.train()
    assert os.path.getmtime(start + '.pdparams') == before
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'slim/prune/prune.py'), '-c', world['config'],
         '--pruned_ratios', 'r578', '-o', 'pretrain_weights=%s' % start,
         'save_dir=%s' % tmp_path, 'epoch=1', 'max_iters_per_epoch=1'], cwd=ROOT,
        capture_output=True, text=True, timeout=120, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 2 and 'they would be overwritten' in proc.stderr, proc.stderr
    assert 'GFLOPs' not in proc.stdout   # refused before pruning, not after
    # elsewhere it trains
    t = Trainer(load_config(world['config'], overrides=[
        'epoch=1', 'max_iters_per_epoch=1', 'save_dir=%s' % (tmp_path / 'other')]), mode='train')
    t.load_weights(start)
    t.train()
    assert os.path.isfile(os.path.join(t.save_dir, 'model_final.pdparams'))


def test_slim_exports_and_resumes_are_checked_before_training(world):
    afile = world['afile']
    err = fail('slim/quantization/train.py', '-c', world['config'], '--save_inference', afile)
    assert '--save_inference: %s is a file' % afile in err
    err = fail('slim/distillation/distill.py', '-c', world['config'], '-t', world['config'],
               '--teacher_pretrained', world['ckpt'], '--save_inference', '--output_dir', afile)
    assert '--output_dir: %s is a file' % afile in err
    # distill.py -r continues a distillation (prune.py -r only a pruned checkpoint): a plain
    # checkpoint is refused before anything is built
    err = fail('slim/distillation/distill.py', '-c', world['config'], '-t', world['config'],
               '--teacher_pretrained', world['ckpt'], '-r', world['ckpt'], '-o', 'epoch=2')
    assert 'this checkpoint was not made by a distillation' in err
    assert '-o pretrain_weights=%s' % world['ckpt'] in err


# -- 4. resuming past the configured epochs ------------------------------------------
def test_resume_with_nothing_left_to_train_is_refused(world, tmp_path):
    err = fail('tools/train.py', '-c', world['config'], '-r', world['ckpt'], '-o', 'epoch=2',
               'save_dir=%s' % tmp_path)
    assert 'saved after epoch 3' in err and 'raise -o epoch=N (N > 3)' in err
    assert not os.path.exists(tmp_path / 'tiny' / 'model_final.pdparams')
    err = fail('tools/train.py', '-c', world['config'], '-r', world['ckpt'], '-o', 'epoch=3',
               'save_dir=%s' % tmp_path)
    assert 'nothing is left to train' in err


def test_trainer_refuses_a_checkpoint_past_the_last_epoch(world, tmp_path):
    """In the library a run resumed from its own ``latest`` at exactly its last epoch still
    writes model_final (a run stopped between its last epoch and model_final is finished
    that way, as the pipeline does); any other checkpoint at or past it is refused (distill.py
    and QAT ``-r model_final`` rewrote it with rc 0)."""
    import shutil
    from ppdet.engine import Trainer
    t = Trainer(load_config(world['config'], overrides=['epoch=2']), mode='train')
    t.resume(world['ckpt'])
    with pytest.raises(ValueError, match='saved after epoch 3 .* trains 2 epoch'):
        t.train()
    over = ['epoch=3', 'save_dir=%s' % tmp_path]
    t = Trainer(load_config(world['config'], overrides=over), mode='train')
    t.resume(world['ckpt'])
    with pytest.raises(ValueError, match=r'epoch3 was saved after epoch 3 and the config trains '
                                         r'3 epoch\(s\): nothing is left to train'):
        t.train()
    os.makedirs(t.save_dir)
    for ext in ('.pdparams', '.pdopt'):
        shutil.copy(world['ckpt'] + ext, os.path.join(t.save_dir, 'latest' + ext))
    t = Trainer(load_config(world['config'], overrides=over), mode='train')
    t.resume(os.path.join(t.save_dir, 'latest'))
    t.train()
    assert os.path.isfile(os.path.join(t.save_dir, 'model_final.pdparams'))


# -- 5. reader values and the learning rate ---------------------------------------------
@pytest.mark.parametrize('override,message', [
    ('TrainReader.batch_size=0', 'TrainReader.batch_size must be an integer >= 1, got 0'),
    ('TrainReader.batch_size=-1', 'TrainReader.batch_size must be an integer >= 1, got -1'),
    ('TrainReader.batch_size=8.7', 'TrainReader.batch_size must be an integer >= 1, got 8.7'),
    ('TrainReader.batch_size=true', 'TrainReader.batch_size must be an integer'),
    ('TrainReader.shuffle=nope', "TrainReader.shuffle must be true or false, got 'nope'"),
    ('TrainReader.drop_last=2', 'TrainReader.drop_last must be true or false, got 2'),
    ('EvalReader.batch_size=0', 'EvalReader.batch_size must be an integer >= 1, got 0'),
])
def test_reader_values_are_checked_by_name(world, override, message):
    from ppdet.data import create_reader
    cfg = load_config(world['config'], overrides=[override])
    mode = 'eval' if override.startswith('Eval') else 'train'
    with pytest.raises(ConfigError) as e:
        create_reader(cfg, mode)
    assert message in str(e.value)


@pytest.mark.parametrize('value', ['0', '-0.1', 'abc', '.nan', 'true'])
def test_base_lr_must_be_positive(world, value):
    from ppdet.engine.optimizer import build_lr
    cfg = load_config(world['config'], overrides=['LearningRate.base_lr=%s' % value])
    with pytest.raises(ConfigError, match='LearningRate.base_lr must be a number > 0'):
        build_lr(cfg, 10, 2)


def test_base_lr_zero_through_train_is_one_line(world):
    err = fail('tools/train.py', '-c', world['config'], '-o', 'LearningRate.base_lr=0')
    assert 'LearningRate.base_lr must be a number > 0, got 0' in err


# -- 6. tools/infer.py arguments -------------------------------------------------------
def test_infer_arguments(world):
    cfg = world['config']
    val = os.path.join(world['dataset'], 'coco', 'val')
    img = os.path.join(val, sorted(os.listdir(val))[0])
    for bad in ('-1', '5'):
        err = fail('tools/infer.py', '-c', cfg, '--infer_img', img, '--draw_threshold', bad)
        assert '--draw_threshold must be in [0.0, 1.0]' in err
    err = fail('tools/infer.py', '-c', cfg, '--infer_img', img, '--infer_dir', val)
    assert 'give --infer_img FILE or --infer_dir DIR, not both' in err
    err = fail('tools/infer.py', '-c', cfg, '--infer_img', val)
    assert '--infer_img %s is a directory; give it as --infer_dir %s' % (val, val) in err


def test_infer_help_describes_every_flag():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'infer.py'), '--help'],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    text = ' '.join(proc.stdout.split())
    for flag in ('--infer_img', '--infer_dir', '--output_dir', '--draw_threshold'):
        described = text[text.rindex(flag):].split(' ', 2)[2]
        assert not described.startswith('(default:'), (flag, text)   # a help string first
    assert 'directly in it (case-insensitive; subfolders are not searched)' in text


def test_infer_on_a_file_that_is_not_an_image_names_it(world, tmp_path):
    from ppdet.engine import Trainer
    from ppdet.utils.image_io import ImageDecodeError
    fake = tmp_path / 'fake.jpg'
    fake.write_bytes(b'not a jpeg')
    t = Trainer(load_config(world['config']), mode='test')
    with pytest.raises(ImageDecodeError) as e:
        t.predict([str(fake)], output_dir=str(tmp_path / 'out'))
    msg = str(e.value)
    assert 'none of the 1 image(s) given can be decoded' in msg and str(fake) in msg
    assert world['dataset'] not in msg      # not TestDataset's folder


# -- 7. tools/eval.py --json_eval ------------------------------------------------------
def test_json_eval_bad_files_are_named(world, tmp_path):
    from ppdet.metrics.coco_utils import cocoapi_eval
    anno = os.path.join(world['dataset'], 'coco', 'annotations', 'instances_val.json')
    with open(anno) as f:
        gt = json.load(f)
    im, cat = gt['images'][0]['id'], gt['categories'][0]['id']
    good = {'image_id': im, 'category_id': cat, 'bbox': [1, 2, 3, 4], 'score': 0.9}
    cases = {
        'corrupt.json': ('[{"image_id": 1,\n', 'is not valid JSON'),
        'empty.json': ('', 'the file is empty'),
        'dict.json': (json.dumps({'images': []}), 'holds a JSON dict, not the list'),
        'nobox.json': (json.dumps([{'image_id': im, 'category_id': cat, 'score': 1}]),
                       'entry 0 lacks bbox'),
        'ids.json': (json.dumps([dict(good, image_id=99999)]),
                     '1 of 1 detections have image ids that %s does not have (99999' % anno),
        'cats.json': (json.dumps([good, dict(good, category_id=777)]),
                      '1 of 2 detections have category ids'),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ValueError) as e:
            cocoapi_eval(str(path), anno)
        assert message in str(e.value) and str(path) in str(e.value), (name, str(e.value))
    err = fail('tools/eval.py', '-c', world['config'], '--json_eval', tmp_path / 'ids.json')
    assert 'made for another dataset' in err
    # a good file: the ground truth as detections scores AP 1, with the summary line every
    # other evaluation prints (it printed only pycocotools' table)
    perfect = tmp_path / 'perfect.json'
    perfect.write_text(json.dumps([{'image_id': a['image_id'], 'category_id': a['category_id'],
                                    'bbox': a['bbox'], 'score': 1.0}
                                   for a in gt['annotations']]))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'eval.py'), '-c',
                           world['config'], '--json_eval', str(perfect)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'COCO bbox: AP=1.0000, AP50=1.0000' in proc.stdout, proc.stdout[-2000:]


def test_json_eval_with_a_config_of_another_metric_is_one_line(world, tmp_path):
    """A WIDER FACE config said its ground-truth txt 'is not valid JSON'."""
    detections = tmp_path / 'bbox.json'
    detections.write_text('[]')
    err = fail('tools/eval.py', '-c', FACE, '--json_eval', detections)
    assert ("--json_eval scores a COCO bbox json against COCO annotations; this config's "
            "metric is WiderFace (the WIDER FACE Easy / Medium / Hard AP): evaluate the model "
            "instead" in err)


# -- 8. tools/eval.py --model_dir: the config must be the export's --------------------------
@pytest.fixture(scope='module')
def exported(world):
    """The tiny YOLOv3 checkpoint exported (tools/export_model.py's code path)."""
    from ppdet.engine.export import export_checkpoint
    out = str(world['tmp'] / 'export')
    export_checkpoint(load_config(world['config']), world['ckpt'], out)
    return out


def test_eval_of_an_export_with_another_models_config_is_refused(world, exported):
    """A RetinaNet export scored with an FCOS config printed an AP; with a BlazeFace config
    Paddle failed with a broadcast mismatch."""
    made = ('%s was exported from YOLOv3 (COCO, 6 classes); -c %%s is %%s: use the config it '
            'was exported with, -c %s' % (exported, world['config']))
    err = fail('tools/eval.py', '-c', RETINANET, '--model_dir', exported)
    assert made % (RETINANET, 'RetinaNet (COCO, 6 classes)') in err
    err = fail('tools/eval.py', '-c', FACE, '--model_dir', exported)
    assert made % (FACE, 'BlazeFace (WiderFace, 1 class)') in err
    err = fail('tools/eval.py', '-c', world['config'], '-o', 'num_classes=3', '--model_dir',
               exported)
    assert 'is YOLOv3 (COCO, 3 classes)' in err


def test_eval_of_an_export_writes_output_eval(world, exported, tmp_path):
    """--output_eval was left out with --model_dir (nothing written, no word)."""
    out = tmp_path / 'detections'
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'eval.py'), '-c',
                           world['config'], '--model_dir', exported, '--output_eval', str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'COCO(AP=' in proc.stdout, proc.stdout[-2000:]
    with open(str(out / 'bbox.json')) as f:
        assert isinstance(json.load(f), list)


def test_eval_help_names_every_metric_and_what_output_eval_writes():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'eval.py'), '--help'],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    text = ' '.join(proc.stdout.split())
    assert 'COCO AP (metric: COCO), VOC mAP (VOC) or the WIDER FACE Easy / Medium / Hard AP' \
        in text
    assert 'COCO writes bbox.json, WiderFace the official per-image files <event>/<image>.txt' \
        in text


# -- 9. a config without an architecture ------------------------------------------------
def test_config_without_architecture(world, tmp_path):
    from ppdet.engine import Trainer
    empty = tmp_path / 'empty.yml'
    empty.write_text('')
    with pytest.raises(ConfigError, match='config %s has no architecture' % empty):
        Trainer(load_config(str(empty)), mode='eval')
    err = fail('tools/train.py', '-c', empty)
    assert 'has no architecture' in err
