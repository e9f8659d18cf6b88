"""check_resume_distillation: a resume continues the recorded distillation (the script
cases run in tests/slim/test_distill_script.py); a cross-family one says its adapters start
over (they are not in the checkpoint)."""
import os

import pytest

from ppdet.slim.distill import DistillStep, check_resume_distillation


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


def test_a_cross_family_resume_says_its_adapters_start_over(ppdet_log):
    rec = _recorded(adapters=[{'student': 'head.cls', 'in': 54, 'out': 6}])
    check_resume_distillation(rec, DistillStep('t.yml', 'w', weight=1.0), None, 'ckpt')
    assert 'the 1x1 adapters bridging this cross-family distillation are not in the ' \
           'checkpoint' in ppdet_log.text
