"""Distillation library: frozen teacher, L2 / fine-grained losses, adapters, checks, step."""
import json
import os

import numpy as np
import paddle
import pytest

import ppdet.modeling  # noqa: F401  (registers the components)
from ppdet.core.workspace import create, load_config
from ppdet.engine.trainer import deployable, unwrap
from ppdet.slim.distill import (DistillModel, DistillStep, check_configs_compatible, distill,
                                distill_settings)
from ppdet.modeling.losses.yolo_distill_loss import fine_grained_terms
from ppdet.slim.steps import get_step, restore_steps
from ppdet.utils.checkpoint import load_weights, save_checkpoint
from quant_test_utils import paddle_predict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 64
NUM_CLASSES = 2


def tiny_cfg(base_channel=32, num_classes=NUM_CLASSES, **sections):
    cfg = {'num_classes': num_classes,
           'YOLOv3': {'backbone': 'MobileNetV1', 'neck': 'YOLOv3FPN', 'yolo_head': 'YOLOv3Head',
                      'post_process': 'BBoxPostProcess'},
           'MobileNetV1': {'scale': 0.25},
           'YOLOv3FPN': {'base_channel': base_channel}}
    cfg.update(sections)
    return cfg


def tiny_model(seed=0, **kw):
    paddle.seed(seed)
    return create('YOLOv3', tiny_cfg(**kw))


def tiny_batch(bsz=2, seed=0):
    rng = np.random.RandomState(seed)
    gt_bbox = np.zeros([bsz, 3, 4], 'float32')
    gt_class = np.zeros([bsz, 3], 'int32')
    gt_bbox[:, 0] = [0.3, 0.4, 0.4, 0.5]
    gt_bbox[:, 1] = [0.7, 0.6, 0.5, 0.6]
    gt_class[:, 1] = 1
    score = (gt_bbox[..., 2] > 0).astype('float32')
    return {'image': paddle.to_tensor(rng.randn(bsz, 3, SIZE, SIZE).astype('float32')),
            'gt_bbox': paddle.to_tensor(gt_bbox), 'gt_class': paddle.to_tensor(gt_class),
            'gt_score': paddle.to_tensor(score)}


def _sgd(model, lr=0.01):
    params = [p for p in unwrap(model).parameters() if not p.stop_gradient]
    return paddle.optimizer.Adam(learning_rate=lr, parameters=params), params


def _train(model, batch, steps, lr=0.01):
    opt, params = _sgd(model, lr)
    model.train()
    history = []
    for _ in range(steps):
        losses = model.get_loss(model(batch['image']), batch)
        losses['loss'].backward()
        opt.step()
        opt.clear_grad()
        history.append({k: float(v) for k, v in losses.items()})
    return history, params


def _state(layer):
    return {k: v.numpy().copy() for k, v in layer.state_dict().items()}


@pytest.mark.parametrize('loss', ['l2', 'fine_grained'])
def test_teacher_frozen_and_distill_loss_decreases(loss):
    student, teacher = tiny_model(seed=1), tiny_model(seed=2, base_channel=64)
    model = distill(student, teacher, loss=loss)
    before = _state(teacher)
    assert any(k.endswith('_mean') for k in before)  # BN running statistics are checked too
    student_before = _state(student)
    history, params = _train(model, tiny_batch(), steps=6)
    teacher_ids = {id(p) for p in teacher.parameters()}
    assert not teacher_ids & {id(p) for p in params}
    assert all(p.stop_gradient for p in teacher.parameters())
    for k, v in _state(teacher).items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert not teacher.training and all(not l.training for l in teacher.sublayers())
    assert any(not np.array_equal(v, student_before[k]) for k, v in _state(student).items())
    first, last = history[0], history[-1]
    assert first['distill_loss'] > 0
    assert last['distill_loss'] < first['distill_loss']
    assert {'loss', 'distill_loss'} <= set(first) and len(first) > 2  # student parts kept
    np.testing.assert_allclose(
        first['loss'], sum(v for k, v in first.items() if k != 'loss'), rtol=1e-4)


def test_fine_grained_terms_weighted_by_teacher_objectness():
    rng = np.random.RandomState(0)
    na, nc = 3, NUM_CLASSES
    shape = [2, na * (5 + nc), 4, 4]
    student = [paddle.to_tensor(rng.randn(*shape).astype('float32'))]
    t = rng.randn(*shape).astype('float32').reshape([2, na, 5 + nc, 4, 4])
    t[:, :, 4] = -50.  # the teacher sees background everywhere
    bg = fine_grained_terms(student, [paddle.to_tensor(t.reshape(shape))], [na])
    assert float(bg['reg']) < 1e-12 and float(bg['cls']) < 1e-12
    assert float(bg['obj']) > 0.1  # objectness is still distilled everywhere
    t[:, :, 4] = 50.
    fg = fine_grained_terms(student, [paddle.to_tensor(t.reshape(shape))], [na])
    assert float(fg['reg']) > 0.1 and float(fg['cls']) > 0.1
    # the student matching the teacher exactly: box L1 and the soft objectness gap vanish
    same = fine_grained_terms([paddle.to_tensor(t.reshape(shape))],
                              [paddle.to_tensor(t.reshape(shape))], [na], obj_target='soft')
    s = 1. / (1. + np.exp(-t[:, :, :2]))
    entropy = np.mean(np.sum(-(s * np.log(s) + (1 - s) * np.log(1 - s)), axis=2))
    np.testing.assert_allclose(float(same['reg']), entropy, rtol=1e-4)


def _sigmoid(x):
    return 1. / (1. + np.exp(-x))


def _bce(logit, target):  # sigmoid cross-entropy with a soft target
    return np.maximum(logit, 0) - logit * target + np.log1p(np.exp(-np.abs(logit)))


def fine_grained_terms_np(student, teacher, num_anchors, obj_target):
    """PaddleDetection's YOLOv3 fine-grained distillation in numpy: xy sigmoid CE and wh L1
    (on raw logits) and class sigmoid CE, each weighted by the teacher's objectness
    probability; objectness CE at every cell against 1[teacher logit > 0] ('hard') or the
    teacher's probability ('soft').  Means over elements, summed over levels."""
    out = dict.fromkeys(('reg', 'cls', 'obj'), 0.)
    for so, to, na in zip(student, teacher, num_anchors):
        b, ch, h, w = so.shape
        s = so.astype('float64').reshape(b, na, ch // na, h, w)
        t = to.astype('float64').reshape(b, na, ch // na, h, w)
        t_obj = _sigmoid(t[:, :, 4])
        box = (_bce(s[:, :, 0], _sigmoid(t[:, :, 0])) + _bce(s[:, :, 1], _sigmoid(t[:, :, 1]))
               + np.abs(s[:, :, 2] - t[:, :, 2]) + np.abs(s[:, :, 3] - t[:, :, 3]))
        out['reg'] += np.mean(box * t_obj)
        out['cls'] += np.mean(_bce(s[:, :, 5:], _sigmoid(t[:, :, 5:])) * t_obj[:, :, None])
        target = (t[:, :, 4] > 0).astype('float64') if obj_target == 'hard' else t_obj
        out['obj'] += np.mean(_bce(s[:, :, 4], target))
    return out


@pytest.mark.parametrize('obj_target', ['hard', 'soft'])
def test_fine_grained_terms_match_a_numpy_reference(obj_target):
    rng = np.random.RandomState(3)
    na, nc = 3, NUM_CLASSES
    shapes = [[2, na * (5 + nc), 4, 4], [2, na * (5 + nc), 2, 2]]
    student = [rng.randn(*sh).astype('float32') for sh in shapes]
    teacher = [s + rng.randn(*s.shape).astype('float32') for s in student]
    for s, t in zip(student, teacher):
        s5, t5 = s.reshape(2, na, 5 + nc, *s.shape[2:]), t.reshape(2, na, 5 + nc, *t.shape[2:])
        s5[:, :, 2:4] = t5[:, :, 2:4] + 2. * rng.choice([-1., 1.], t5[:, :, 2:4].shape)
        t5[:, :, 4] = rng.uniform(-2., 2., t5[:, :, 4].shape)  # hard and soft targets differ
    got = fine_grained_terms([paddle.to_tensor(s) for s in student],
                             [paddle.to_tensor(t) for t in teacher], [na, na], obj_target)
    want = fine_grained_terms_np(student, teacher, [na, na], obj_target)
    for k in ('reg', 'cls', 'obj'):
        np.testing.assert_allclose(float(got[k]), want[k], rtol=1e-5, err_msg=k)
    other = fine_grained_terms_np(student, teacher, [na, na],
                                  'soft' if obj_target == 'hard' else 'hard')
    assert abs(other['obj'] - want['obj']) > 0.05 * want['obj']


def test_l2_distill_loss_is_weight_times_the_sum_over_pairs():
    student, teacher = tiny_model(seed=1), tiny_model(seed=2)
    pairs = ['yolo_head.yolo_output.0', 'yolo_head.yolo_output.1']
    model = distill(student, teacher, pairs=pairs, weight=3)
    model.train()
    outputs = model(tiny_batch()['image'])
    got = float(model.distill_loss(outputs))
    feats = [(model._feats['student'][p].numpy().astype('float64'),
              model._feats['teacher'][p].numpy().astype('float64')) for p in pairs]
    terms = [np.mean((s - t) ** 2) for s, t in feats]
    assert min(terms) > 0.01 * max(terms)  # neither pair negligible
    np.testing.assert_allclose(got, 3. * sum(terms), rtol=1e-5)


def test_adapter_for_different_widths_not_saved(tmp_path):
    student, teacher = tiny_model(seed=1), tiny_model(seed=2, base_channel=64)
    pairs = [{'teacher': 'neck.yolo_block.0.tip', 'student': 'neck.yolo_block.0.tip'},
             'yolo_head.yolo_output.0']
    model = distill(student, teacher, pairs=pairs)
    assert list(model.adapters.keys()) == ['pair0']
    assert model.adapters['pair0'].weight.shape == [128, 64, 1, 1]  # student 64 -> teacher 128
    assert not model.adapters['pair0'].weight.stop_gradient
    history, params = _train(model, tiny_batch(), steps=2)
    assert id(model.adapters['pair0'].weight) in {id(p) for p in params}
    assert deployable(model) is student
    path = save_checkpoint(deployable(model), str(tmp_path / 'ck'), meta={'steps': []})
    keys = set(paddle.load(path)) - {'__ppdet_meta__'}
    assert keys == set(student.state_dict())
    assert not [k for k in keys if 'adapter' in k or k.startswith('teacher')]
    report = load_weights(tiny_model(seed=3), path, strict=True)
    assert not report.unexpected


def test_eval_forward_is_the_student_and_hooks_idle():
    student, teacher = tiny_model(seed=1), tiny_model(seed=2)
    model = distill(student, teacher)
    model.eval()
    x = tiny_batch()['image']
    with paddle.no_grad():
        a = model(x)
        b = student(x)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    assert not model._feats['student'] and not model._feats['teacher']
    assert model.prunable_params().keys() == student.prunable_params().keys()
    with pytest.raises(RuntimeError, match='train mode before get_loss'):
        model.get_loss(a, tiny_batch())


def test_mismatched_models_fail_with_both_values():
    with pytest.raises(ValueError,
                       match=r'teacher predicts num_classes=5 .* student num_classes=2'):
        distill(tiny_model(), tiny_model(num_classes=5))
    other = {'YOLOv3Head': {'anchors': [[10, 13], [16, 30], [33, 23], [30, 61], [62, 45],
                                        [59, 119], [116, 90], [156, 198], [300, 300]]}}
    with pytest.raises(ValueError, match=r'anchors .*\[300, 300\].* anchor_masks'):
        distill(tiny_model(), tiny_model(**other), loss='fine_grained')
    distill(tiny_model(), tiny_model(**other), loss='l2')  # l2 on head maps does not care
    with pytest.raises(ValueError, match=r"unknown student layer 'neck.yolo_blok.0.tip'; did you "
                                         r"mean 'neck.yolo_block.0.tip'"):
        distill(tiny_model(), tiny_model(), pairs=[{'teacher': 'neck.yolo_block.0.tip',
                                                     'student': 'neck.yolo_blok.0.tip'}])
    with pytest.raises(ValueError, match="unknown distillation loss 'fine'"):
        distill(tiny_model(), tiny_model(), loss='fine')


def _resize_reader(size):
    return {'sample_transforms': [{'Decode': {}}, {'Resize': {'target_size': [size, size]}}]}


def test_mismatched_configs_fail_with_both_values_and_fix():
    s = dict(tiny_cfg(), EvalReader=_resize_reader(320), _config_path='student.yml')
    t = dict(tiny_cfg(), EvalReader=_resize_reader(608), _config_path='teacher.yml')
    with pytest.raises(ValueError, match=r'teacher \(teacher.yml\) runs at EvalReader Resize '
                                         r'target_size=\[608, 608\] but the student \(student.yml\)'
                                         r' at \[320, 320\].*target_size: \[320, 320\]'):
        check_configs_compatible(s, t)
    t = dict(tiny_cfg(num_classes=80), EvalReader=_resize_reader(320), _config_path='teacher.yml')
    with pytest.raises(ValueError, match=r'teacher \(teacher.yml\) has num_classes=80 but the '
                                         r'student \(student.yml\) has num_classes=2'):
        check_configs_compatible(s, t)
    check_configs_compatible(s, dict(s))


def _write_teacher(tmp_path, base_channel=64):
    path = tmp_path / 'teacher.yml'
    path.write_text('_BASE_: [%s]\nnum_classes: %d\nMobileNetV1: {scale: 0.25}\n'
                    'YOLOv3FPN: {base_channel: %d}\n' % (
                        os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1.yml'), NUM_CLASSES,
                        base_channel))
    cfg = load_config(str(path))
    paddle.seed(5)
    teacher = create('YOLOv3', cfg)
    weights = save_checkpoint(teacher, str(tmp_path / 'teacher'), meta={'steps': []})
    return str(path), weights, teacher


def test_distill_step_builds_teacher_records_and_restores(tmp_path):
    cfg_path, weights, ref_teacher = _write_teacher(tmp_path)
    student_cfg = load_config(os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1.yml'),
                              overrides=['num_classes=%d' % NUM_CLASSES, 'MobileNetV1.scale=0.25',
                                         'YOLOv3FPN.base_channel=32'])
    step = DistillStep(cfg_path, weights, loss='fine_grained', student_cfg=student_cfg)
    student = create('YOLOv3', student_cfg)
    wrapped, record = step.apply(student)
    assert isinstance(wrapped, DistillModel) and wrapped.student is student
    np.testing.assert_array_equal(wrapped.teacher.yolo_head.yolo_outputs[0].weight.numpy(),
                                  ref_teacher.yolo_head.yolo_outputs[0].weight.numpy())
    assert record['loss'] == 'fine_grained' and record['weight'] == 1000.0
    assert record['teacher_weights'] == os.path.abspath(weights)
    json.dumps(record)
    assert get_step('distill') is DistillStep
    assert restore_steps(student, [dict(record, kind='distill')]) is student

    with pytest.raises(ValueError, match='no teacher weights'):
        DistillStep(cfg_path, None)
    bad = load_config(os.path.join(ROOT, 'configs', 'yolov3_mobilenet_v1.yml'))  # 80 classes
    with pytest.raises(ValueError, match=r'num_classes=2 but the student .* num_classes=80'):
        DistillStep(cfg_path, weights, student_cfg=bad).apply(create('YOLOv3', bad))


def test_distill_settings_from_config(tmp_path):
    cfg = load_config(os.path.join(ROOT, 'configs', 'distill',
                                   'yolov3_mobilenet_v1_r34_distill.yml'))
    s = distill_settings(cfg)
    assert s['loss'] == 'l2' and os.path.isfile(s['teacher_config'])
    assert s['teacher_config'].endswith('yolov3_r34.yml')
    cfg['use_fine_grained_loss'] = True
    assert distill_settings(cfg, teacher_weights='w')['loss'] == 'fine_grained'
    cfg['Distill']['teacher_cfg'] = 'x'
    with pytest.raises(ValueError, match="unknown key 'teacher_cfg' in section Distill; did you "
                                         "mean 'teacher_config'"):
        distill_settings(cfg)


def test_export_of_distilled_student_runs_in_paddle_inference(tmp_path):
    from ppdet.engine.export import export_model
    student, teacher = tiny_model(seed=1), tiny_model(seed=2, base_channel=64)
    model = distill(student, teacher, pairs=[
        {'teacher': 'neck.yolo_block.1.tip', 'student': 'neck.yolo_block.1.tip'}])
    _train(model, tiny_batch(), steps=1)
    cfg = dict(tiny_cfg(), architecture='YOLOv3', TestReader={
        'sample_transforms': [{'Decode': {}}, {'Resize': {'target_size': [SIZE, SIZE]}},
                              {'Permute': {}}]})
    prefix = export_model(deployable(model), cfg, str(tmp_path / 'infer'), ['a', 'b'])
    image = tiny_batch()['image'].numpy()
    feeds = {'image': image, 'im_shape': np.array([[SIZE, SIZE]] * 2, 'float32'),
             'scale_factor': np.ones([2, 2], 'float32')}
    bbox, bbox_num = paddle_predict(os.path.dirname(prefix), feeds)
    student.eval()
    with paddle.no_grad():
        ref, ref_num = student.post_process(student(paddle.to_tensor(image)),
                                          paddle.to_tensor(feeds['im_shape']),
                                          paddle.to_tensor(feeds['scale_factor']))
    np.testing.assert_array_equal(bbox_num, ref_num.numpy())
    np.testing.assert_allclose(bbox, ref.numpy(), rtol=1e-3, atol=1e-3)
    assert not model._feats['student']  # hooks stayed idle while tracing


@pytest.mark.parametrize('name', sorted(os.listdir(os.path.join(ROOT, 'configs', 'distill'))))
def test_shipped_distill_configs_pair_up(name):
    path = os.path.join(ROOT, 'configs', 'distill', name)
    cfg = load_config(path)
    if 'Distill' not in cfg:
        return  # a teacher config living next to the distill configs
    s = distill_settings(cfg)
    teacher_cfg = load_config(s['teacher_config'])
    check_configs_compatible(cfg, teacher_cfg)
    assert teacher_cfg['YOLOv3']['backbone'] == 'ResNet'
    if 'builtin' in name:  # ResNet18 x0.25 student, ResNet18 x0.5 teacher (see their configs)
        assert cfg['YOLOv3']['backbone'] == 'ResNet' and cfg['ResNet']['depth'] == 18
        assert teacher_cfg['ResNet']['depth'] == 18
        assert teacher_cfg['ResNet']['width_mult'] == 2 * cfg['ResNet']['width_mult']
    else:  # the seed's COCO / VOC pairs: MobileNetV1 student, ResNet34 teacher
        assert cfg['YOLOv3']['backbone'] == 'MobileNetV1'
        assert teacher_cfg['ResNet']['depth'] == 34
    for key in ('anchors', 'anchor_masks'):  # fine-grained distillation works as well
        assert teacher_cfg.get('YOLOv3Head', {}).get(key) == cfg.get('YOLOv3Head', {}).get(key)


def test_pair_on_a_layer_that_never_runs():
    student = tiny_model()
    student.add_sublayer('unused', paddle.nn.Conv2D(3, 3, 1))
    with pytest.raises(ValueError, match="student layer 'unused' produced no output"):
        distill(student, tiny_model(), pairs=[{'teacher': 'yolo_head.yolo_output.0',
                                               'student': 'unused'}])


def test_l2_breakdown_splits_the_loss_by_part_and_teacher_objectness():
    from ppdet.modeling.losses.yolo_distill_loss import l2_breakdown
    # one level, 1 anchor, 2 classes -> 7 channels; 1x2 cells: the teacher sees an object
    # at cell 0 (objectness logit +5) and background at cell 1 (-5)
    t = np.zeros((1, 7, 1, 2))
    t[0, 4] = [5.0, -5.0]
    s = t.copy()
    s[0, 0, 0, 0] += 1.0        # x at the object cell: 1
    s[0, 2, 0, 1] += 1.0        # w at the background cell: 1
    s[0, 4, 0, 1] += 2.0        # objectness at the background cell: 4
    s[0, 5:, 0, 1] += 3.0       # both class logits at the background cell: 9 + 9
    s[0, 6, 0, 0] += 1.0        # a class logit at the object cell: 1
    got = l2_breakdown([s], [t], [1])
    n = s.size
    assert got['total'] == pytest.approx(25.0 / n)
    assert got['total'] == pytest.approx(float(l2_loss_np(s, t)))
    expected = {'xy': 1, 'wh': 1, 'obj_fg': 0, 'obj_bg': 4, 'cls_fg': 1, 'cls_bg': 18}
    for k, v in expected.items():
        assert got[k] == pytest.approx(v / n), k
    assert got['fg_cells'] == 0.5


def l2_loss_np(s, t):
    from ppdet.slim.distill_losses import l2_loss
    return l2_loss(paddle.to_tensor(s, 'float32'), paddle.to_tensor(t, 'float32')).numpy()


def test_loss_breakdown_script_on_a_tiny_pair(tiny_config, tmp_path):
    """slim/distillation/loss_breakdown.py on a tiny student and teacher (untrained, other
    seeds, saved by the test): the shares add up to 100% and the default weight is applied."""
    import subprocess
    import sys
    import yaml
    from ppdet.engine import Trainer
    teacher_cfg = str(tmp_path / 'teacher.yml')
    with open(teacher_cfg, 'w') as f:
        yaml.safe_dump({'_BASE_': [tiny_config], 'seed': 7}, f)  # other initial weights
    w_s = Trainer(load_config(tiny_config), mode='eval').save(str(tmp_path / 's'))
    w_t = Trainer(load_config(teacher_cfg), mode='eval').save(str(tmp_path / 't'))
    cmd = [sys.executable, os.path.join(ROOT, 'slim', 'distillation', 'loss_breakdown.py'),
           '-c', tiny_config, '-t', teacher_cfg, '--teacher_pretrained', w_t, '--images', '2',
           '-o', 'weights=%s' % w_s]
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    shares = [float(line.rsplit('|', 2)[1].strip().rstrip('%'))
              for line in proc.stdout.splitlines() if line.startswith('| ') and '%' in line]
    assert len(shares) == 6 and sum(shares) == pytest.approx(100.0, abs=0.5)
    assert 'x weight 100 =' in proc.stdout  # no Distill section: the L2 default
    bad = subprocess.run(cmd[:-2], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=300)
    assert bad.returncode != 0 and 'weights file not found' in bad.stdout  # the config's default


def test_a_teacher_with_the_students_own_weights_is_named(ppdet_log):
    distill(tiny_model(seed=1), tiny_model(seed=1))
    assert ppdet_log.messages == [
        "the teacher has the student's own weights (all %d tensors equal): distilling from "
        "itself only holds the student where it starts; give a stronger teacher (a larger "
        "model, or the unpruned parent for a pruned student) with -t / --teacher_pretrained"
        % len(tiny_model(seed=1).state_dict())]
    ppdet_log.messages.clear()
    distill(tiny_model(seed=1), tiny_model(seed=2))   # same architecture, other weights
    assert not [m for m in ppdet_log.messages if 'own weights' in m]
