"""A checkpoint's files are written as a set (ppdet.utils.checkpoint.file_set)."""
import errno
import os
import subprocess
import sys

import paddle
import pytest

from ppdet.utils.checkpoint import file_set, read_meta, save_checkpoint


def test_a_failed_set_leaves_the_old_files_and_no_temporaries(tmp_path, monkeypatch):
    prefix = str(tmp_path / 'ck')
    save_checkpoint(paddle.nn.Linear(2, 2), prefix, meta={'epoch': 1})
    real = paddle.save

    def second_fails(obj, path, *a, **k):   # the weights file: the disk is full
        if '.ck.pdparams.' in path:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(obj, path, *a, **k)
    monkeypatch.setattr(paddle, 'save', second_fails)
    with pytest.raises(OSError):
        with file_set() as write:
            write({'a': 1}, prefix + '.pdema')
            write({'b': 2}, prefix + '.pdparams')
    assert sorted(os.listdir(str(tmp_path))) == ['ck.pdparams']   # no .pdema of the failed set
    assert read_meta(prefix) == {'epoch': 1}


def test_temporaries_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    live = os.getppid()
    for pid in (dead.pid, live):
        (tmp_path / ('.ck.pdparams.%d.x1y2z3.tmp' % pid)).write_bytes(b'\0' * 100)
    save_checkpoint(paddle.nn.Linear(2, 2), str(tmp_path / 'ck'))
    assert sorted(os.listdir(str(tmp_path))) == ['.ck.pdparams.%d.x1y2z3.tmp' % live,
                                                 'ck.pdparams']
