"""The results tables' distillation comparison: each distilled row against its recorded twin
and its teacher (found by checkpoint), with the weak-teacher warning."""
from ppdet.pipeline.results_table import (TEACHER_MIN_MARGIN, format_distill_comparison,
                                          format_results)


def _row(ap, weights, **extra):
    return dict({'AP': ap, 'AP50': ap + 0.2, 'GFLOPs': 0.19, 'size_MB': 7.7, 'input_size': 192,
                 'weights': weights}, **extra)


def _results():
    return {'rows': ['baseline', 'r578', 'teacher', 'student_alone', 'l2_distill',
                     'r578_distill', 'old_distill'],
            'baseline': _row(0.384, 'b/model_final'),
            'r578': _row(0.300, 'r/model_final'),
            'teacher': _row(0.485, 't/model_final'),
            'student_alone': _row(0.478, 'a/model_final', parent='baseline'),
            'l2_distill': _row(0.452, 'l/model_final', distill='l2', distill_weight=2.0,
                               teacher='t/model_final', twin='student_alone'),
            'r578_distill': _row(0.320, 'd/model_final', distill='l2', distill_weight=2.0,
                                 teacher='t/model_final', twin='r578'),
            # a row from before twins were recorded
            'old_distill': _row(0.4, 'o/model_final', distill='fine_grained',
                                distill_weight=100, teacher='gone/model_final')}


def test_each_distilled_row_beside_its_twin_and_teacher():
    table = format_distill_comparison(_results())
    lines = table.splitlines()
    assert '| l2_distill | l2 (2) | 0.4520 | student_alone | 0.4780 | -0.0260 | teacher | ' \
           '0.4850 | +0.0070 |' in lines
    assert '| r578_distill | l2 (2) | 0.3200 | r578 | 0.3000 | +0.0200 | teacher | 0.4850 | ' \
           '+0.1850 |' in lines
    assert '| old_distill | fine_grained (100) | 0.4000 | - | - | - | - | - | - |' in lines
    # the teacher 0.7 AP above the baseline's twin is named; the r578 student's is not
    warning = lines[-1]
    assert warning.startswith('Teacher not ahead of the twin by %.2f (%g AP points)' % (
        TEACHER_MIN_MARGIN, 100 * TEACHER_MIN_MARGIN))
    assert 'l2_distill: its teacher (teacher) +0.0070 over its twin (student_alone)' in warning
    assert 'r578_distill' not in warning and '--teacher_epochs' in warning


def test_no_warning_for_a_teacher_far_ahead_and_nothing_without_distilled_rows():
    res = _results()
    res['teacher']['AP'] = 0.60
    assert 'Teacher not ahead' not in format_distill_comparison(res)
    del res['l2_distill'], res['r578_distill'], res['old_distill']
    assert format_distill_comparison(res) == ''
    assert 'Distillation:' not in format_results(res)


def test_main_table_shows_the_comparison_after_the_rows():
    table = format_results(_results())
    assert 'Distillation: each student against its twin' in table
    assert table.index('| l2_distill | l2 (2) |') > table.index('| l2_distill | 0.1900')
