"""tools/pipeline.py refuses bad flags before any stage (and before --fresh deletes
anything), refuses a work dir started with other settings, runs --seeds for every --model,
names the stage to run first, says how to resume after Ctrl-C, and its help is per --model."""
import json
import os
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _pipeline(args, timeout=120):   # each refusal takes seconds
    return subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'pipeline.py')] + args,
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def _refused(proc, message):
    """A one-line error naming ``message``, exit 2, before any stage started."""
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stdout, proc.stdout
    assert 'Traceback' not in proc.stdout and '] starting' not in proc.stdout, proc.stdout


def test_fresh_refuses_a_folder_that_is_not_a_work_dir(tmp_path):
    """--fresh deletes --work_dir: a folder with files and no results.json (a dataset, a
    home directory given by mistake) is refused and kept."""
    work = tmp_path / 'mine'
    work.mkdir()
    (work / 'notes.txt').write_text('mine')
    proc = _pipeline(['--model', 'fcos', '--work_dir', str(work), '--dataset_dir',
                      str(tmp_path / 'd'), '--fresh'])
    _refused(proc, '--fresh: %s holds no pipeline results (no results.json; it holds '
                   'notes.txt): refusing to delete it' % work)
    assert (work / 'notes.txt').read_text() == 'mine'


@pytest.mark.parametrize('model, bad, message', [
    ('fcos', ['-c', 'configs/builtin/fcos_r18_bultin.yml', '--stages', 'train'],
     "-c: config file not found: configs/builtin/fcos_r18_bultin.yml; did you mean "
     "'configs/builtin/fcos_r18_builtin.yml'"),
    ('fcos', ['-o', 'FCOSHead.box_los=giou'],
     "unknown config key 'box_los' in override 'FCOSHead.box_los=giou'"),
    ('retinanet', ['-o', 'epoh=1'], "unknown config key 'epoh'"),
    ('blazeface', ['-o', 'epoh=1'], "unknown config key 'epoh'"),
    ('yolov3', ['-o', 'epoh=1'], "unknown config key 'epoh'"),
    ('yolov3', ['--teacher_config', 'configs/builtin/nope.yml'],
     '--teacher_config: config file not found: configs/builtin/nope.yml')])
def test_fresh_keeps_the_work_dir_on_a_config_or_override_typo(model, bad, message, tmp_path):
    """--fresh deleted the work dir, then the first stage failed on the config: the configs
    and overrides of every --model are loaded before anything is deleted."""
    work = tmp_path / 'keep'
    work.mkdir()
    (work / 'results.json').write_text('{"_done": ["data"]}')
    proc = _pipeline(['--model', model, '--work_dir', str(work), '--dataset_dir',
                      str(tmp_path / 'd'), '--fresh'] + bad)
    _refused(proc, message)
    assert (work / 'results.json').read_text() == '{"_done": ["data"]}'


@pytest.mark.parametrize('model, bad, message', [
    ('fcos', ['--sensitivity_images', '0'],
     'sensitivity_images (--sensitivity_images) must be >= 1, got 0'),
    ('fcos', ['--seeds', '-1'], 'prune_seeds (--seeds) must be in [0, 4294967295], got -1'),
    ('blazeface', ['--seeds', '0', '0'], 'prune_seeds (--seeds): 0 given twice'),
    ('yolov3', ['--teacher_epochs', '0'], 'teacher_epochs (--teacher_epochs) must be >= 1'),
    ('yolov3', ['--teacher_weights', 'nowhere/model_final'],
     '--teacher_weights: nowhere/model_final.pdparams not found'),
    ('retinanet', ['--work_dir', 'FILE'], 'is a file, not a directory'),
    ('yolov3', ['--dataset_dir', 'FILE'], '--dataset_dir: '),
    ('fcos', ['--stages', 'train', '--dataset_dir', 'MISSING'],
     '--dataset_dir: MISSING not found; run the data stage first')])
def test_flags_are_refused_before_the_first_stage(model, bad, message, tmp_path):
    """Each of these failed in its stage (the sensitivity and prune ones after the whole
    training, naming --eval_images, a flag pipeline.py does not have, or numpy's seed range)."""
    (tmp_path / 'FILE').write_text('')
    bad = [str(tmp_path / a) if a in ('FILE', 'MISSING') else a for a in bad]
    message = message.replace('MISSING', str(tmp_path / 'MISSING'))
    args = ['--model', model, '--work_dir', str(tmp_path / 'w'), '--dataset_dir',
            str(tmp_path / 'd')]
    proc = _pipeline(args + bad)
    _refused(proc, message)
    assert '--eval_images' not in proc.stdout
    assert not os.path.exists(tmp_path / 'd') and not os.path.exists(tmp_path / 'w')


def _settings(work):
    return json.load(open(os.path.join(str(work), 'results.json')))['_settings']


def test_a_work_dir_started_by_another_model_or_settings_is_refused(tmp_path):
    """--model retinanet on FCOS's work dir skipped every stage as done and printed FCOS's
    results as RetinaNet's; -o epoch=5 was ignored the same way."""
    work, data = tmp_path / 'fb', tmp_path / 'd'
    data.mkdir()
    base = ['--work_dir', str(work), '--dataset_dir', str(data), '--stages', 'eval']
    proc = _pipeline(['--model', 'fcos', '-o', 'epoch=1'] + base)
    assert proc.returncode == 2 and "stage eval needs 'baseline_weights'" in proc.stdout
    recorded = _settings(work)
    assert len(recorded.pop('config_content')) == 12
    assert recorded == {'model': 'fcos', 'config': 'configs/builtin/fcos_r18_builtin.yml',
                        'overrides': ['epoch=1'], 'dataset_dir': str(data),
                        'finetune_epochs': 3, 'sensitivity_images': 40, 'seeds': [0]}
    results = json.load(open(str(work / 'results.json')))
    results['_done'] = ['data', 'train', 'eval']   # as if the FCOS job had run
    (work / 'results.json').write_text(json.dumps(results))
    before = (work / 'results.json').read_text()
    proc = _pipeline(['--model', 'retinanet', '-o', 'epoch=1'] + base)
    _refused(proc, '--work_dir %s was started with other settings: --model fcos, -c configs/'
                   'builtin/fcos_r18_builtin.yml (this run: --model retinanet, -c configs/builtin/'
                   'retinanet_r18_builtin.yml); its done stages would be skipped' % work)
    assert 'add --fresh to start over there, or give another --work_dir' in proc.stdout
    assert 'already done' not in proc.stdout
    proc = _pipeline(['--model', 'fcos', '-o', 'epoch=5', '--finetune_epochs', '1'] + base)
    _refused(proc, 'other settings: -o epoch=1, --finetune_epochs 3 (this run: -o epoch=5, '
                   '--finetune_epochs 1)')
    assert (work / 'results.json').read_text() == before
    # the fix it names: --fresh starts the work dir over with this run's settings
    proc = _pipeline(['--model', 'fcos', '-o', 'epoch=5', '--fresh'] + base)
    assert "stage eval needs 'baseline_weights'" in proc.stdout, proc.stdout
    assert _settings(work)['overrides'] == ['epoch=5']


def test_a_config_edited_after_the_work_dir_was_started_is_other_settings(tmp_path):
    """Editing the YAML (or a _BASE_ file) went unnoticed: the done stages were reported as
    the edited config's (an audit).  Its loaded content is recorded; a comment is not."""
    import shutil
    work, data = tmp_path / 'w', tmp_path / 'd'
    data.mkdir()
    config = tmp_path / 'fcos.yml'
    shutil.copy(os.path.join(ROOT, 'configs', 'builtin', 'fcos_r18_builtin.yml'), str(config))
    text = config.read_text().replace("'../", "'%s/configs/" % ROOT)
    config.write_text(text)
    base = ['--model', 'fcos', '-c', str(config), '--work_dir', str(work), '--dataset_dir',
            str(data), '--stages', 'eval']
    _pipeline(base)
    results = json.load(open(str(work / 'results.json')))
    results['_done'] = ['data', 'train']
    (work / 'results.json').write_text(json.dumps(results))
    config.write_text(text + '\n# a comment\n')
    assert "stage eval needs 'baseline_weights'" in _pipeline(base).stdout   # the same
    config.write_text(text.replace('epoch: 12', 'epoch: 5'))
    _refused(_pipeline(base), 'other settings: the content of -c (with its _BASE_ files): '
                              'digest %s' % results['_settings']['config_content'])


def test_the_same_overrides_in_another_order_are_the_same_settings():
    from ppdet.pipeline.main_job import differing_settings
    old = {'overrides': ['epoch=1', 'TrainReader.batch_size=2']}
    assert differing_settings(old, {'overrides': ['TrainReader.batch_size=2', 'epoch=1']}) == []
    assert differing_settings(old, {'overrides': ['epoch=2', 'TrainReader.batch_size=2']}) == \
        ['overrides']


def test_a_run_refused_before_its_first_stage_does_not_lock_the_work_dir(tmp_path):
    """--stages eval on a new work dir is refused (nothing done); its settings were still
    recorded, and the next command with other flags was refused until --fresh."""
    work, data = tmp_path / 'w', tmp_path / 'd'
    data.mkdir()
    base = ['--model', 'fcos', '--work_dir', str(work), '--dataset_dir', str(data),
            '--stages', 'eval']
    proc = _pipeline(base + ['-o', 'epoch=1'])
    assert "stage eval needs 'baseline_weights'" in proc.stdout, proc.stdout
    proc = _pipeline(base + ['-o', 'epoch=5'])
    assert 'holds no stage\'s output: taken with this run\'s' in proc.stdout, proc.stdout
    assert "stage eval needs 'baseline_weights'" in proc.stdout
    assert _settings(work)['overrides'] == ['epoch=5']


@pytest.mark.parametrize('model, seeds, rows', [
    ('fcos', ['--seeds', '0', '1'], ['prune_uniform_p40', 'prune_uniform_p40_seed1']),
    ('blazeface', ['--seeds', '0', '1'], ['prune_derived_p40', 'prune_derived_p40_seed1']),
    ('retinanet', ['--seeds', '3'], ['prune_uniform_p40']),
    ('fcos', [], ['prune_uniform_p40']),
    ('yolov3', [], ['prune_r578', 'prune_r578_seed1'])])
def test_seeds_are_the_given_ones_for_every_model(model, seeds, rows, tmp_path):
    """--seeds 0 1 was replaced by 0 for the face and dense jobs (it equalled the main job's
    default); without --seeds each job takes its own default (0 1 for yolov3, else 0)."""
    proc = _pipeline(['--model', model, '--work_dir', str(tmp_path / 'w'), '--stages', 'prun']
                     + seeds)
    assert proc.returncode == 2
    stages = proc.stdout.split('and the stages ')[1].split(', ')
    assert [s.strip() for s in stages if s.startswith('prune_%s' % rows[0].split('_')[1])
            and 'pruned' not in s] == rows, proc.stdout


def test_a_stage_before_its_earlier_stages_names_them(tmp_path):
    """--stages eval without a trained baseline died with KeyError: 'baseline_weights'."""
    (tmp_path / 'd').mkdir()
    proc = _pipeline(['--model', 'fcos', '--work_dir', str(tmp_path / 'w'), '--dataset_dir',
                      str(tmp_path / 'd'), '--stages', 'eval'])
    assert proc.returncode == 2, proc.stdout
    assert "error: stage eval needs 'baseline_weights' from an earlier stage" in proc.stdout
    assert 'not done yet: data, train: run them first (--stages data train), or the whole ' \
           'job (no --stages)' in proc.stdout
    assert 'Traceback' not in proc.stdout and 'KeyError' not in proc.stdout


def test_help_is_per_model_and_says_each_default_once():
    env = dict(os.environ, COLUMNS='1000')
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'pipeline.py'), '-h'],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300, env=env)
    text = ' '.join(proc.stdout.split())
    assert proc.returncode == 0, proc.stdout
    assert '(default: None)' not in text
    assert "(default: its config's) --teacher_weights" in text   # said once
    assert 'only these stage groups (default: all), per --model: yolov3: data train eval ' \
           'infer sensitivity prune quant distill; blazeface: data train eval infer import ' \
           'sensitivity prune quant distill lite latency photos; retinanet, fcos: data train ' \
           'eval infer sensitivity prune quant distill latency;' in text
    assert 'YAML config file; default per --model: yolov3: configs/builtin/yolov3_r18_builtin' \
           '.yml; blazeface: configs/face_detection/blazeface_builtin.yml; retinanet: configs/' \
           'builtin/retinanet_r18_builtin.yml; fcos: configs/builtin/fcos_r18_builtin.yml' in text
    assert 'default per --model: yolov3: 0 1; blazeface, retinanet, fcos: 0' in text
    assert text.count('(default: configs/builtin/yolov3_r18x05_builtin_teacher.yml)') == 1


@pytest.mark.slow
def test_ctrl_c_says_to_rerun_the_same_command_and_that_resumes(tiny_config, tiny_dataset,
                                                                tmp_path):
    """The training's Ctrl-C message says `resume with -r`, which pipeline.py does not take:
    the pipeline says to run the same command again (printed, without --fresh), and that
    goes on from the last finished epoch."""
    args = ['--model', 'yolov3', '-c', tiny_config, '--work_dir', str(tmp_path / 'w'),
            '--dataset_dir', tiny_dataset, '--stages', 'train', '-o', 'epoch=6']
    # unbuffered: the log lines arrive as written; SIGINT's default restored (a shell that
    # starts the suite in the background makes its children ignore it)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, 'tools', 'pipeline.py'),
                             '--fresh'] + args, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED='1'),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if 'epoch 2/6' in line:   # epoch 1 is saved
            proc.send_signal(signal.SIGINT)
            break
    out = ''.join(seen) + proc.communicate(timeout=300)[0]
    assert proc.returncode == 130, out
    assert 'resume with -r' in out and 'Traceback' not in out   # the training's line, then:
    assert 'to resume, run the same command again (tools/pipeline.py takes no -r' in out
    again = out.split('takes no -r')[1].splitlines()[1].split()
    assert again[:2] == ['python', 'tools/pipeline.py'] and again[2:] == args, out
    proc = _pipeline(args)
    assert proc.returncode == 0, proc.stdout
    assert 'resumed from' in proc.stdout and '[train] done' in proc.stdout
