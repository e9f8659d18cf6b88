"""tools/pipeline.py: --model builds each family's job; --stages is checked up front."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize('model, groups', [
    ('blazeface', 'data, distill, eval, import, infer, latency, lite, photos, prune, quant, '
                  'sensitivity, train'),
    ('fcos', 'data, distill, eval, infer, latency, prune, quant, sensitivity, train'),
    ('yolov3', 'data, distill, eval, infer, prune, quant, sensitivity, train')])
def test_model_flag_builds_that_familys_job_and_checks_stages_first(model, groups, tmp_path):
    """--model picks the family's job; a misspelt --stages entry stops it before any stage
    runs, naming the close stages and that job's groups."""
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'pipeline.py'), '--model', model,
         '--stages', 'quant', 'distil', '--work_dir', str(tmp_path / 'w'),
         '--dataset_dir', str(tmp_path / 'd')],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode != 0
    assert "unknown stage 'distil'; did you mean 'distill'" in proc.stdout
    assert 'this job has the groups %s and the stages' % groups in proc.stdout
    assert not os.path.exists(tmp_path / 'd')  # nothing ran, not even the data stage


def test_teacher_flags_are_refused_for_a_family_job(tmp_path):
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'pipeline.py'), '--model', 'retinanet',
         '--teacher_epochs', '3', '--work_dir', str(tmp_path / 'w')],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'the teacher is the trained baseline' in proc.stdout


@pytest.mark.parametrize('model, bad', [('yolov3', ['--finetune_epochs', '0']),
                                        ('blazeface', ['--stages', 'distil'])])
def test_fresh_keeps_the_work_dir_when_a_flag_is_bad(model, bad, tmp_path):
    """--fresh deleted the work dir first, then refused the typo: a finished job lost to a
    bad flag.  The flags are checked before anything is deleted."""
    work = tmp_path / 'w'
    work.mkdir()
    (work / 'results.json').write_text('{}')
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'pipeline.py'), '--model', model,
         '--fresh', '--work_dir', str(work), '--dataset_dir', str(tmp_path / 'd')] + bad,
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout
    assert 'finetune_epochs' in proc.stdout or "unknown stage 'distil'" in proc.stdout
    assert (work / 'results.json').read_text() == '{}'
