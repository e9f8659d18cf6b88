"""Bad input to slim/distillation/{distill,loss_breakdown}.py (and a pruned checkpoint of
another backbone given to QAT): one line naming the fix, before any training (audit
2026-12-05); a pruning preset alone is taken as prune.py takes it."""
import os

import paddle
import pytest

from ppdet.core.workspace import create, load_config
from ppdet.slim.steps import make_record
from ppdet.utils.checkpoint import read_meta, save_checkpoint
from seed_flags import SEED_PARAMS, SEED_R578
from slim_script_configs import write_tiny_yolov3
from slim_script_runner import ROOT, fail as _fail, run_main as _main, run_script as _run

DISTILL = 'slim/distillation/distill.py'
BREAKDOWN = 'slim/distillation/loss_breakdown.py'
QAT = 'slim/quantization/train.py'
SIZE = 64

# a student of another backbone than the -c config's (and the teacher of the tests)
RESNET = """\
_BASE_: [student.yml]
YOLOv3: {backbone: ResNet}
ResNet: {depth: 18, variant: b, return_idx: [1, 2, 3], freeze_at: -1}
"""


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from ppdet.data.synthetic import generate_dataset
    from ppdet.slim.prune import PrunePlan, PruneStep
    tmp = tmp_path_factory.mktemp('distill_bad_input')
    generate_dataset(str(tmp / 'data'), num_train=4, num_val=2, image_size=SIZE, seed=0)
    student = tmp / 'student.yml'
    write_tiny_yolov3(student, ROOT, tmp / 'out', tmp / 'data', SIZE)
    resnet = tmp / 'resnet.yml'
    resnet.write_text(RESNET)
    paddle.seed(3)
    rcfg = load_config(str(resnet))
    rmodel = create('YOLOv3', rcfg)
    teacher = save_checkpoint(rmodel, str(tmp / 'teacher'), meta={'steps': [], 'num_classes': 6})
    plan = PrunePlan.from_flags(rmodel, SEED_PARAMS, SEED_R578, 'l1_norm', SIZE)
    rmodel, record = PruneStep(plan).apply(rmodel)
    pruned = save_checkpoint(rmodel, str(tmp / 'pruned_resnet'), meta={
        'architecture': 'YOLOv3', 'config': str(resnet), 'num_classes': 6,
        'steps': [make_record('prune', record)]})
    scfg = load_config(str(student))
    student_ckpt = save_checkpoint(create('YOLOv3', scfg), str(tmp / 'student_fp32'), meta={
        'architecture': 'YOLOv3', 'config': str(student), 'num_classes': 6, 'steps': []})
    return {'tmp': tmp, 'student': str(student), 'resnet': str(resnet), 'teacher': teacher,
            'pruned_resnet': pruned, 'student_ckpt': student_ckpt}


# -- finding 6: a missing teacher names the teacher's flag -----------------------------------
def test_missing_teacher_weights_name_teacher_pretrained(setup):
    nope = os.path.join(str(setup['tmp']), 'nope', 'model_final')
    err = _fail(DISTILL, '-c', setup['student'], '-t', setup['resnet'],
                '--teacher_pretrained', nope)
    assert err.startswith('error: teacher weights not found: %s.pdparams' % nope), err
    assert '--teacher_pretrained (or Distill.teacher_weights)' in err, err
    assert 'tools/train.py -c %s' % setup['resnet'] in err, err
    assert '-o weights=' not in err, err


def test_teacher_weights_directory_names_the_file_inside(setup):
    from ppdet.slim.distill import check_teacher_weights
    with pytest.raises(FileNotFoundError, match=r'teacher weights .* is a directory; .*'
                                                r'e.g. --teacher_pretrained .*teacher'):
        check_teacher_weights(str(setup['tmp']))


# -- finding 8: nonsense values ---------------------------------------------------------------
@pytest.mark.parametrize('weight', ['-1', '0', 'abc'])
def test_distill_weight_must_be_positive(setup, weight):
    err = _fail(DISTILL, '-c', setup['student'], '-t', setup['resnet'],
                '--teacher_pretrained', setup['teacher'], '-o', 'Distill.weight=%s' % weight)
    assert 'Distill.weight must be a number > 0, got' in err, err


@pytest.mark.parametrize('flags,match', [
    (['--images', '0'], r'--images must be >= 1, got 0'),
    (['--fg_thresh', '2'], r'--fg_thresh must be in \[0, 1\], got 2.0'),
    (['--fg_thresh', '-0.5'], r'--fg_thresh must be in \[0, 1\], got -0.5'),
])
def test_loss_breakdown_ranges(monkeypatch, setup, flags, match):
    with pytest.raises(ValueError, match=match):
        _main(monkeypatch, BREAKDOWN, '-c', setup['student'], '-t', setup['resnet'],
              '--teacher_pretrained', setup['teacher'], '-o', 'weights=%s' % setup['teacher'],
              *flags)


def test_distill_weight_written_with_an_exponent_is_a_number():
    """``-o Distill.weight=1e2`` is text to YAML 1.1: taken as 100 (it was refused)."""
    from ppdet.slim.distill import check_distill_weight
    assert check_distill_weight('1e2') == 100.0
    assert check_distill_weight(None) is None
    with pytest.raises(ValueError, match='Distill.weight must be a number > 0'):
        check_distill_weight('1e')


@pytest.mark.parametrize('config', ['configs/builtin/retinanet_r18_builtin.yml',
                                    'configs/face_detection/blazeface_builtin.yml'])
def test_loss_breakdown_names_its_yolov3_scope(config):
    """On another family it failed with ``AttributeError: ... no attribute 'yolo_head'``
    after building both models (audit 2026-12-05); now refused before any of it."""
    err = _fail(BREAKDOWN, '-c', config, '-t', config, '--teacher_pretrained', 'nope',
                '-o', 'weights=nope')
    assert 'loss_breakdown.py splits the L2 loss of YOLOv3 head maps' in err, err
    assert 'distill.py logs its distillation and detection losses' in err, err


# -- finding 9: a pruned checkpoint of another backbone --------------------------------------
def test_pruned_checkpoint_of_another_backbone_names_its_config(setup):
    for script, extra in ((DISTILL, ['-t', setup['resnet'], '--teacher_pretrained',
                                      setup['teacher']]), (QAT, [])):
        err = _fail(script, '-c', setup['student'], *extra,
                    '-o', 'pretrain_weights=%s' % setup['pruned_resnet'])
        assert 'pruned checkpoint %s does not fit the model of %s' % (
            setup['pruned_resnet'], setup['student']) in err, err
        assert err.endswith('they were trained with %s: use that config (-c %s)' % (
            setup['resnet'], setup['resnet'])), err


# -- finding 7: a preset alone --------------------------------------------------------------
def test_params_without_ratios_is_refused(setup):
    err = _fail(DISTILL, '-c', setup['student'], '-t', setup['resnet'], '--teacher_pretrained',
                setup['teacher'], '--pruned_params', SEED_PARAMS)
    assert '--pruned_params needs --pruned_ratios' in err, err


@pytest.mark.slow
def test_pruning_preset_alone_prunes_the_seed_params(setup):
    save = os.path.join(str(setup['tmp']), 'preset_out')
    out = _run(DISTILL, '-c', setup['student'], '-t', setup['resnet'], '--teacher_pretrained',
               setup['teacher'], '--pruned_ratios', 'r578',
               '-o', 'pretrain_weights=%s' % setup['student_ckpt'], 'epoch=1',
               'max_iters_per_epoch=1', 'save_dir=%s' % save)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    meta = read_meta(os.path.join(save, 'student', 'model_final.pdparams'))
    assert [s['kind'] for s in meta['steps']] == ['prune', 'distill']
    plan = meta['steps'][0]['plan']
    assert plan['pruned_params'] == SEED_PARAMS.split(',')
    assert plan['pruned_ratios'] == [float(r) for r in SEED_R578.split(',')]
    assert plan['input_size'] in (SIZE, [SIZE, SIZE])   # prune.py's plan: the config's size
