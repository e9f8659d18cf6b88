"""Atomic writes and the locked read-modify-write that lets pipeline stage groups run at once."""
import json
import os
import subprocess
import sys

import pytest

from ppdet.utils.fileio import update_json, write_json

WRITER = '''
import sys
from ppdet.utils.fileio import update_json
tag = sys.argv[2]
for i in range(60):
    update_json(sys.argv[1], lambda r: r.setdefault('done', []).append('%s%d' % (tag, i)))
'''


def test_write_json_keeps_old_file_when_writing_fails(tmp_path):
    path = tmp_path / 'r.json'
    write_json(str(path), {'a': 1})
    with pytest.raises(TypeError):
        write_json(str(path), {'a': object()})  # not serialisable, fails mid-write
    assert json.loads(path.read_text()) == {'a': 1}
    assert [p.name for p in tmp_path.iterdir()] == ['r.json']


def test_concurrent_processes_keep_each_others_updates(tmp_path):
    path = str(tmp_path / 'results.json')
    procs = [subprocess.Popen([sys.executable, '-c', WRITER, path, tag]) for tag in 'ab']
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    done = update_json(path, lambda r: None)['done']
    # without the lock, each process would overwrite the other's list with its stale copy
    assert sorted(done) == sorted(['%s%d' % (t, i) for t in 'ab' for i in range(60)])


@pytest.mark.parametrize('umask', [0o022, 0o077])
def test_atomic_files_get_the_umask_mode_not_0600(tmp_path, umask):
    import paddle
    from ppdet.utils.checkpoint import save_checkpoint
    old = os.umask(umask)
    try:
        write_json(str(tmp_path / 'r.json'), {'a': 1})
        save_checkpoint(paddle.nn.Linear(2, 2), str(tmp_path / 'ck'), meta={})
    finally:
        os.umask(old)
    for name in ('r.json', 'ck.pdparams'):
        assert os.stat(str(tmp_path / name)).st_mode & 0o777 == 0o666 & ~umask, name


def _model_dir(path, tag):
    os.makedirs(str(path), exist_ok=True)
    for name in ('model.pdmodel', 'model.pdiparams', 'infer_cfg.yml'):
        (path / name).write_text('%s %s' % (tag, name))


def test_staged_dir_replaces_a_model_dir_whole_and_its_marker_last(tmp_path):
    """A re-export (or PTQ run) over an existing model dir, killed part-way, left the new
    weights beside the old infer_cfg.yml, and every runner took the mix as a model."""
    from ppdet.utils.fileio import staged_dir
    out = tmp_path / 'export'
    _model_dir(out, 'old')
    with staged_dir(str(out)) as stage:
        assert os.path.dirname(stage) == str(tmp_path) and stage != str(out)
        _model_dir(tmp_path / os.path.basename(stage), 'new')
        assert (out / 'infer_cfg.yml').read_text() == 'old infer_cfg.yml'   # not yet
    assert {(out / n).read_text() for n in os.listdir(str(out))} == {
        'new model.pdmodel', 'new model.pdiparams', 'new infer_cfg.yml'}
    assert sorted(os.listdir(str(tmp_path))) == ['export']    # no stage left behind


def test_staged_dir_failing_or_cut_off(tmp_path, monkeypatch):
    from ppdet.utils import fileio
    out = tmp_path / 'export'
    _model_dir(out, 'old')
    with pytest.raises(RuntimeError):          # the work fails: the old model stays whole
        with fileio.staged_dir(str(out)) as stage:
            _model_dir(tmp_path / os.path.basename(stage), 'new')
            raise RuntimeError('calibration failed')
    assert (out / 'model.pdiparams').read_text() == 'old model.pdiparams'
    assert (out / 'infer_cfg.yml').read_text() == 'old infer_cfg.yml'
    # cut off after moving the first file: no infer_cfg.yml, so runners refuse the dir
    moved, real = [], os.replace

    def replace_once(src, dst):
        if moved:
            raise KeyboardInterrupt
        moved.append(os.path.basename(dst))
        real(src, dst)
    monkeypatch.setattr(fileio.os, 'replace', replace_once)
    with pytest.raises(KeyboardInterrupt):
        with fileio.staged_dir(str(out)) as stage:
            _model_dir(tmp_path / os.path.basename(stage), 'new')
    assert moved and moved[0] != 'infer_cfg.yml'
    assert not (out / 'infer_cfg.yml').exists()


@pytest.mark.parametrize('path', ['/proc/ppdet_out/model', '/sys/ppdet_out'])
def test_an_output_dir_where_nothing_can_be_made_is_refused(path):
    """root passes os.access everywhere: the check makes (and removes) a test folder."""
    from ppdet.utils.fileio import check_output_dir
    with pytest.raises(ValueError, match=r'--output_dir: cannot write in /(proc|sys) \(a test '
                                         r'folder could not be made there'):
        check_output_dir(path, '--output_dir')


def test_the_write_check_leaves_nothing_behind(tmp_path):
    from ppdet.utils.fileio import check_output_dir
    check_output_dir(str(tmp_path / 'out' / 'model'), '--output_dir')
    assert os.listdir(tmp_path) == []


def test_a_missing_weights_file_or_config_names_the_close_ones_beside_it(tmp_path):
    from ppdet.core.workspace import ConfigError, load_config
    from ppdet.utils.checkpoint import read_meta
    for name in ('model_final.pdparams', 'latest.pdparams', 'model_final.pdopt'):
        (tmp_path / name).write_bytes(b'')
    with pytest.raises(FileNotFoundError, match=r"model_fnal.pdparams; did you mean '%s'\?"
                       % (tmp_path / 'model_final')):
        read_meta(str(tmp_path / 'model_fnal'))
    with pytest.raises(FileNotFoundError) as e:
        read_meta(str(tmp_path / 'zzz'))                 # nothing close: no guess
    assert 'did you mean' not in str(e.value) and 'output/CONFIG_NAME/model_final' in str(e.value)
    (tmp_path / 'fcos_r18_builtin.yml').write_text('epoch: 1\n')
    with pytest.raises(ConfigError, match=r"fcos_r18_bultin.yml; did you mean '%s'\?"
                       % (tmp_path / 'fcos_r18_builtin.yml')):
        load_config(str(tmp_path / 'fcos_r18_bultin.yml'))
