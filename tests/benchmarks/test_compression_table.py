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


def _latency_json(out, obj):
    import json
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'latency.json'), 'w') as f:
        json.dump(obj, f)
    return open(os.path.join(out, 'latency.json')).read()


def test_out_dir_holding_a_table_of_other_settings_is_refused_before_the_pipeline(
        tmp_path, monkeypatch):
    """The default --out_dir is the committed one: a run with other timing flags or another
    config replaced its tables, exit 0; --overwrite lets it through (here to the empty work
    dir's error)."""
    from ppdet.benchmark.runtimes import RUNTIMES
    from ppdet.pipeline.main_job import Pipeline
    monkeypatch.chdir(ROOT)
    work, out = _started_work_dir(tmp_path), str(tmp_path / 'out')
    settings = dict(Pipeline(compression_table.DEFAULT_CONFIG, work_dir=work).settings('yolov3'),
                    threads=1, repeats=100, warmup=3, lite_repeats=5, check_images=8,
                    calib_images=8, match_score=0.3, match_fraction=0.9,
                    runtimes=sorted(RUNTIMES))
    before = _latency_json(out, {'_settings': settings, 'rows': {}})
    argv = ['--skip_pipeline', '--work_dir', work, '--out_dir', out]
    with pytest.raises(ValueError, match=r'^--out_dir: .*latency.json holds the results of '
                                         r'another run \(repeats=100; this run: repeats=20\): '
                                         r'they would be overwritten; give another --out_dir '
                                         r'\(or --overwrite to replace them\)$'):
        compression_table.main(argv)
    with pytest.raises(ValueError, match=r"\(runtimes=\[.*'paddle_int8'\]; this run: "
                                         r"runtimes=\['paddle_fp32'\]\)"):
        compression_table.main(argv + ['--repeats', '100', '--runtimes', 'paddle_fp32'])
    assert open(os.path.join(out, 'latency.json')).read() == before
    for extra in (['--overwrite'], ['--repeats', '100']):    # let through; the same run
        with pytest.raises(ValueError, match='has no table rows yet'):
            compression_table.main(argv + extra)


def test_latency_json_records_the_settings_a_later_run_is_checked_against(tmp_path,
                                                                          monkeypatch):
    """The sweep and the report stubbed (minutes of timing): latency.json gets the run's
    settings, the rows' pipeline settings from the work dir's record."""
    import json
    from ppdet.benchmark import compression_report, latency_sweep
    from ppdet.utils.fileio import write_json
    monkeypatch.chdir(ROOT)
    work, out = _started_work_dir(tmp_path, finetune_epochs=2), str(tmp_path / 'out')
    monkeypatch.setattr(latency_sweep, 'table_rows', lambda results: [('baseline', {})])
    monkeypatch.setattr(latency_sweep, 'latency_sweep', lambda *a, **k: {'rows': {}})
    monkeypatch.setattr(compression_table, 'eval_images', lambda pipe, count: ([0], ['x']))
    monkeypatch.setattr(compression_report, 'failure_summary', lambda latency: '')

    def write(results, latency, out_dir):
        write_json(os.path.join(out_dir, 'latency.json'), latency)
        with open(os.path.join(out_dir, 'compression.md'), 'w') as f:
            f.write('table')
        return {'md': os.path.join(out_dir, 'compression.md')}
    monkeypatch.setattr(compression_report, 'write_compression_report', write)
    argv = ['--skip_pipeline', '--work_dir', work, '--out_dir', out, '--threads', '2']
    compression_table.main(argv)
    recorded = json.load(open(os.path.join(out, 'latency.json')))['_settings']
    assert recorded['threads'] == 2 and recorded['repeats'] == 20
    assert recorded['finetune_epochs'] == 2            # the work dir's, not this run's default
    assert recorded['config'] == compression_table.DEFAULT_CONFIG
    compression_table.main(argv)                       # the same run: rewritten
    with pytest.raises(ValueError, match=r'\(threads=2; this run: threads=1\)'):
        compression_table.main(argv[:-2])


def test_latency_json_from_before_the_record_is_compared_on_its_sweep(tmp_path, monkeypatch):
    """The committed latency.json has no record: its runtimes and timing flags are read from
    its sweep's settings; the command it was made with passes (with the default --out_dir),
    other timing flags are refused."""
    import json
    monkeypatch.chdir(ROOT)
    work = _started_work_dir(tmp_path)
    committed = os.path.join('benchmarks', 'results', 'latency.json')
    with open(committed) as f:
        latency = json.load(f)
    argv = latency['command'].split()[2:] + ['--work_dir', work]
    with pytest.raises(ValueError, match='has no table rows yet'):      # past the check
        compression_table.main(argv)
    sweep = {'threads': 1, 'warmup': 3, 'repeats': 100, 'lite_repeats': 5, 'check_images': 8,
             'calib_images': 8, 'batch_size': 1, 'date': 'D',
             'tolerance': {'score_thresh': 0.3, 'min_matched_fraction': 0.9, 'iou_thresh': 0.5}}
    old = {'settings': sweep, 'runtimes': {'paddle_fp32': 'Paddle fp32 (oneDNN)'}, 'rows': {}}
    assert compression_table.recorded_settings(old) == {
        'threads': 1, 'warmup': 3, 'repeats': 100, 'lite_repeats': 5, 'check_images': 8,
        'calib_images': 8, 'match_score': 0.3, 'match_fraction': 0.9,
        'runtimes': ['paddle_fp32']}
    out = str(tmp_path / 'out')
    _latency_json(out, old)
    argv = ['--skip_pipeline', '--work_dir', work, '--out_dir', out, '--runtimes',
            'paddle_fp32', '--repeats', '100']
    with pytest.raises(ValueError, match='has no table rows yet'):      # past the check
        compression_table.main(argv)
    with pytest.raises(ValueError, match=r'\(match_score=0.3; this run: match_score=0.5\)'):
        compression_table.main(argv + ['--match_score', '0.5'])
