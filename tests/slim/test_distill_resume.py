"""check_resume_distillation: a resume continues the recorded distillation (the script
cases run in tests/slim/test_distill_script.py); the 1x1 adapters of a student narrower than
its teacher resume from the checkpoint."""
import os

import numpy as np
import paddle
import pytest

import ppdet.modeling  # noqa: F401  (registers the components)
from ppdet.core.workspace import create, load_config
from ppdet.slim.distill import DistillStep, check_resume_distillation
from ppdet.utils.checkpoint import save_checkpoint


def _recorded(**kw):
    rec = {'teacher_config': os.path.abspath('t.yml'), 'teacher_weights': os.path.abspath('w'),
           'loss': 'l2', 'weight': 1.0, 'obj_target': 'hard', 'pairs': [], 'adapters': []}
    rec.update(kw)
    return rec


def test_the_recorded_settings_pass_and_a_suffix_is_the_same_file(ppdet_log):
    check_resume_distillation(_recorded(), DistillStep('t.yml', 'w.pdparams', weight=1.0),
                              None, 'ckpt')
    assert ppdet_log.text == ''


def test_other_settings_are_named(ppdet_log):
    with pytest.raises(ValueError, match=r"-r ckpt continues the distillation its record names, "
                                         r"but this run gives another: loss fine_grained \(checkpoint: "
                                         r"l2\); weight 2.0 \(checkpoint: 1.0\)"):
        check_resume_distillation(_recorded(), DistillStep('t.yml', 'w', loss='fine_grained',
                                                           weight=2.0), None, 'ckpt')


# the neck's widths differ (student 32, teacher 64): this pair is bridged by a 1x1 adapter
PAIRS = [{'teacher': 'neck.yolo_block.0.tip', 'student': 'neck.yolo_block.0.tip'},
         'yolo_head.yolo_output.0']


def _distill_trainer(config, teacher, weights, *over):
    from ppdet.engine import Trainer
    t = Trainer(load_config(config, overrides=list(over)), mode='train')
    t.apply_step(DistillStep(teacher, weights, pairs=PAIRS))
    return t


def test_a_resume_keeps_the_adapters_and_ends_as_the_uninterrupted_run(tiny_config, tmp_path,
                                                                       ppdet_log):
    """A student narrower than its teacher (a pruned one, another family) is bridged by 1x1
    adapters that train with it; the checkpoint held the student alone, so -r started them
    again from their initialisation and the resumed run was not the uninterrupted one."""
    from ppdet.engine.trainer import deployable, unwrap
    teacher = tmp_path / 'teacher.yml'
    teacher.write_text('_BASE_: [%s]\nYOLOv3FPN: {base_channel: 64}\n' % tiny_config)
    paddle.seed(5)
    weights = save_checkpoint(create('YOLOv3', load_config(str(teacher))), str(tmp_path / 'tw'),
                              meta={'steps': [], 'num_classes': load_config(tiny_config)[
                                  'num_classes']})
    over = ['epoch=2', 'max_iters_per_epoch=2', 'snapshot_epoch=1']
    whole = _distill_trainer(tiny_config, str(teacher), weights, *over,
                             'save_dir=%s' % (tmp_path / 'whole'))
    assert len(unwrap(whole.model).adapters)
    whole.train()
    resumed = _distill_trainer(tiny_config, str(teacher), weights, *over,
                               'save_dir=%s' % (tmp_path / 'resumed'))
    resumed.resume(os.path.join(whole.save_dir, '1'))
    resumed.train()
    for a, b in ((deployable(whole.model), deployable(resumed.model)),
                 (unwrap(whole.model).adapters, unwrap(resumed.model).adapters)):
        for k, v in a.state_dict().items():
            np.testing.assert_array_equal(b.state_dict()[k].numpy(), v.numpy(), err_msg=k)
    assert 'adapters' not in ppdet_log.text


def test_a_checkpoint_saved_before_adapters_were_kept_says_they_start_over(tiny_config,
                                                                           tmp_path, ppdet_log):
    from ppdet.slim.distill import DistillModel
    model = DistillModel(create('YOLOv3', load_config(tiny_config)), create('YOLOv3', load_config(
        tiny_config, overrides=['YOLOv3FPN.base_channel=64'])), pairs=PAIRS)
    before = {k: v.numpy().copy() for k, v in model.adapters.state_dict().items()}
    model.load_wrapper_state(None, 'ckpt')
    assert 'the 1x1 adapters bridging the student to the teacher are not in this checkpoint' \
        in ppdet_log.text
    for k, v in model.adapters.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    with pytest.raises(ValueError, match='its distillation adapters .* are not this run'):
        model.load_wrapper_state({'pair0.weight': np.zeros([1, 1, 1, 1], 'float32')}, 'ckpt')
