"""benchmarks/compression_table.py: a work dir started with other settings is refused with
--skip_pipeline too (it timed a YOLOv3 work dir's rows under an FCOS command), naming this
script's fix (it has no --fresh); Ctrl-C in its pipeline says how to resume (exit 130);
--calib_images 0 with onnxruntime int8 is refused; every flag has a help line."""
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks import compression_table  # noqa: E402

FCOS = 'configs/builtin/fcos_r18_builtin.yml'


def _started_work_dir(tmp_path, **kw):
    """A work dir whose results.json records the default YOLOv3 job's settings."""
    from ppdet.pipeline.main_job import Pipeline
    from ppdet.utils.fileio import write_json
    work = str(tmp_path / 'work')
    pipe = Pipeline(compression_table.DEFAULT_CONFIG, work_dir=work, **kw)
    write_json(os.path.join(work, 'results.json'), {'_settings': pipe.settings('yolov3')})
    return work


@pytest.mark.parametrize('skip', [['--skip_pipeline'], []])
def test_work_dir_of_other_settings_is_refused_naming_this_scripts_fix(skip, tmp_path,
                                                                        monkeypatch):
    monkeypatch.chdir(ROOT)
    work = _started_work_dir(tmp_path)
    before = open(os.path.join(work, 'results.json')).read()
    with pytest.raises(ValueError) as e:
        compression_table.main(['-c', FCOS, '--work_dir', work, '--out_dir',
                                str(tmp_path / 'out')] + skip)
    msg = str(e.value)
    assert 'was started with other settings: -c %s (this run: -c %s)' % (
        compression_table.DEFAULT_CONFIG, FCOS) in msg
    assert 'give another --work_dir' in msg and 'python tools/pipeline.py --fresh' in msg
    assert 'add --fresh' not in msg              # this script has no --fresh
    assert open(os.path.join(work, 'results.json')).read() == before     # nothing written
    assert not (tmp_path / 'out').exists()


def test_skip_pipeline_compares_only_what_names_the_rows(tmp_path, monkeypatch):
    # a work dir fine-tuned for 2 epochs still holds this job's rows: read, not refused
    monkeypatch.chdir(ROOT)
    work = _started_work_dir(tmp_path, finetune_epochs=2)
    with pytest.raises(ValueError, match='has no table rows yet'):
        compression_table.main(['--skip_pipeline', '--work_dir', work, '--out_dir',
                                str(tmp_path / 'out')])


def test_calib_images_0_with_onnxruntime_int8_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r'--calib_images 0: onnxruntime int8 .*needs '
                                         r'calibration images; give 1 or more'):
        compression_table.main(['--skip_pipeline', '--calib_images', '0', '--work_dir',
                                str(tmp_path / 'work'), '--out_dir', str(tmp_path / 'out')])
    assert os.listdir(str(tmp_path)) == []


def test_work_dir_and_dataset_dir_have_help_lines():
    out = subprocess.run([sys.executable, 'benchmarks/compression_table.py', '--help'],
                         cwd=ROOT, stdout=subprocess.PIPE, universal_newlines=True, check=True,
                         env=dict(os.environ, PYTHONPATH=ROOT)).stdout
    text = ' '.join(out.split())
    assert "--work_dir WORK_DIR the main job's work dir (as tools/pipeline.py)" in text
    assert '--dataset_dir DATASET_DIR where the built-in dataset is' in text
    assert '(default: output/pipeline)' in text and '(default: dataset/builtin)' in text


def test_ctrl_c_in_the_pipeline_says_how_to_resume(tmp_path):
    argv = ['--work_dir', str(tmp_path / 'work'), '--dataset_dir', str(tmp_path / 'data'),
            '--out_dir', str(tmp_path / 'out')]
    p = subprocess.Popen([sys.executable, 'benchmarks/compression_table.py'] + argv, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True,
                         env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'),
                         # a suite started in the background ignores SIGINT: not this child
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in p.stdout:                 # the data stage starts: interrupt it
            if line.startswith('== pipeline'):
                time.sleep(2)
                p.send_signal(signal.SIGINT)
                break
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert 'interrupted: the done stages are in %s; to resume, run the same command again' % (
        tmp_path / 'work' / 'results.json') in err
    assert 'python benchmarks/compression_table.py ' + ' '.join(argv) in err
    assert 'Traceback' not in err
