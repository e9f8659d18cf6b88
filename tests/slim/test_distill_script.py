"""slim/distillation/distill.py end to end: a pruned student from its checkpoint alone."""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest
import yaml

from ppdet.core.workspace import create, load_config
from ppdet.slim.steps import make_record
from ppdet.utils.checkpoint import read_meta, save_checkpoint
from quant_test_utils import paddle_predict
from seed_flags import SEED_PARAMS, SEED_R578
from slim_script_configs import write_tiny_yolov3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'slim', 'distillation', 'distill.py')
SIZE = 64


# the thin-ResNet34 teacher's recipe (configs/builtin/yolov3_r34_builtin_teacher.yml) on this
# student
TEACHER = """\
_BASE_: [student.yml]
YOLOv3: {backbone: ResNet}
ResNet: {depth: 34, variant: b, return_idx: [1, 2, 3], freeze_at: -1}
"""


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from ppdet.data.synthetic import generate_dataset
    from ppdet.slim.prune import PrunePlan, PruneStep
    tmp = tmp_path_factory.mktemp('distill_script')
    generate_dataset(str(tmp / 'data'), num_train=4, num_val=2, image_size=SIZE, seed=0)
    student_path = tmp / 'student.yml'
    write_tiny_yolov3(student_path, ROOT, tmp / 'out', tmp / 'data', SIZE, base_lr=0.001)
    teacher_path = tmp / 'teacher.yml'
    teacher_path.write_text(TEACHER)

    paddle.seed(3)
    teacher_cfg = load_config(str(teacher_path))
    teacher_weights = save_checkpoint(create('YOLOv3', teacher_cfg), str(tmp / 'teacher'),
                                      meta={'steps': [], 'num_classes': 6})

    cfg = load_config(str(student_path))
    student = create('YOLOv3', cfg)
    plan = PrunePlan.from_flags(student, SEED_PARAMS, SEED_R578, 'l1_norm', SIZE)
    student, record = PruneStep(plan).apply(student)
    pruned = save_checkpoint(student, str(tmp / 'pruned'), meta={
        'architecture': 'YOLOv3', 'config': str(student_path), 'num_classes': 6,
        'steps': [make_record('prune', record)]})
    return {'tmp': tmp, 'student': str(student_path), 'teacher': str(teacher_path),
            'teacher_weights': teacher_weights, 'pruned': pruned, 'shapes': record['shapes']}


def _run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, SCRIPT] + list(args), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_distill_pruned_checkpoint_alone_and_export(setup):
    tmp = setup['tmp']
    out = _run('-c', setup['student'], '-t', setup['teacher'],
               '--teacher_pretrained', setup['teacher_weights'], '--save_inference',
               '--output_dir', str(tmp / 'infer'),
               '-o', 'pretrain_weights=%s' % setup['pruned'], 'epoch=1', 'max_iters_per_epoch=2')
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert 'distill_loss' in out.stdout + out.stderr

    final = tmp / 'out' / 'student' / 'model_final.pdparams'
    meta = read_meta(str(final))
    assert [s['kind'] for s in meta['steps']] == ['prune', 'distill']
    assert meta['steps'][1]['teacher_weights'] == os.path.abspath(setup['teacher_weights'])
    keys = set(paddle.load(str(final))) - {'__ppdet_meta__'}
    assert not [k for k in keys if k.startswith(('teacher.', 'student.', 'adapters.'))]

    # the checkpoint alone rebuilds the pruned student
    from ppdet.engine import build_model
    model, _ = build_model(load_config(setup['student']), str(final))
    for key, shape in setup['shapes'].items():
        assert list(model.state_dict()[key].shape) == list(shape), key

    # the export is the pruned student and runs in Paddle Inference
    out = str(tmp / 'infer' / 'student')
    assert os.path.isfile(os.path.join(out, 'model.pdmodel')) and os.path.isfile(
        os.path.join(out, 'infer_cfg.yml'))
    with open(os.path.join(out, 'infer_cfg.yml')) as f:     # it named the pruned start
        assert yaml.safe_load(f)['compression']['parent'] == str(final)[:-len('.pdparams')]
    feeds = {'image': np.random.RandomState(0).rand(1, 3, SIZE, SIZE).astype('float32'),
             'im_shape': np.array([[SIZE, SIZE]], 'float32'),
             'scale_factor': np.ones([1, 2], 'float32')}
    bbox, bbox_num = paddle_predict(out, feeds)
    assert bbox.shape[-1] == 6 and int(bbox_num.sum()) == bbox.shape[0]

    # -r resumes the distillation: same steps, no second distill record, next epoch
    out = _run('-c', setup['student'], '-t', setup['teacher'],
               '--teacher_pretrained', setup['teacher_weights'], '-r', str(final)[:-9],
               '-o', 'epoch=2', 'max_iters_per_epoch=1')
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    meta = read_meta(str(final))
    assert [s['kind'] for s in meta['steps']] == ['prune', 'distill'] and meta['epoch'] == 2
    assert meta['parent'] == os.path.abspath(setup['pruned'])

    # -r alone takes the recorded teacher (the student config names none: it was refused)
    out = _run('-c', setup['student'], '-r', str(final)[:-9], '-o', 'epoch=3',
               'max_iters_per_epoch=1')
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert 'distill_loss' in out.stdout + out.stderr
    # another teacher, weight or pruning plan on a resume: refused (they were taken silently,
    # and the record then named them as if they had taught the whole run)
    other = save_checkpoint(create('YOLOv3', load_config(setup['teacher'])),
                            str(tmp / 'teacher_b'), meta={'steps': [], 'num_classes': 6})
    for extra, said in (
            (['--teacher_pretrained', other], 'teacher_weights %s (checkpoint: %s)' % (
                os.path.abspath(other)[:-len('.pdparams')], os.path.abspath(
                    setup['teacher_weights'])[:-len('.pdparams')])),
            (['-o', 'Distill.weight=50'], 'weight 50.0 (checkpoint: 100.0)'),
            (['--pruned_params', 'yolo_block.0.0.0.conv.weights', '--pruned_ratios', '0.3'],
             'resumes the plan recorded in the checkpoint')):
        out = _run('-c', setup['student'], '-t', setup['teacher'], '-r', str(final)[:-9],
                   '-o', 'epoch=4', 'max_iters_per_epoch=1', *extra)
        assert out.returncode == 2, out.stdout[-3000:] + out.stderr[-3000:]
        assert said in out.stderr, out.stderr[-2000:]
    assert read_meta(str(final))['epoch'] == 3
    out = _run('-c', setup['student'], '-r', setup['pruned'][:-len('.pdparams')])
    assert out.returncode == 2 and 'was not made by a distillation' in out.stderr, out.stderr


def test_mismatched_teacher_fails_before_training(setup):
    out = _run('-c', setup['student'], '-t', setup['teacher'],
               '--teacher_pretrained', setup['teacher_weights'], '-o', 'num_classes=3')
    assert out.returncode == 2
    assert 'has num_classes=6 but the student' in out.stderr and 'num_classes=3' in out.stderr
    out = _run('-c', setup['student'], '-t', setup['teacher'])
    assert out.returncode == 2 and 'no teacher weights' in out.stderr
    out = _run('-c', setup['student'], '-t', setup['teacher'], '--teacher_pretrained',
               setup['teacher_weights'], '--pruned_params', SEED_PARAMS, '--pruned_ratios', SEED_R578,
               '-o', 'pretrain_weights=%s' % setup['pruned'])
    assert out.returncode == 2 and 'already pruned' in out.stderr
