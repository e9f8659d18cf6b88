"""tools/gen_dataset.py and tools/gen_face_dataset.py through the real scripts: help with
defaults and ranges, one-line refusals of a bad --output_dir, progress while writing."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHAPES = ['tools/gen_dataset.py', '--num_train', '2', '--num_val', '1', '--image_size', '64',
          '--min_size', '8']
FACES = ['tools/gen_face_dataset.py', '--num_train', '2', '--num_val', '1', '--min_side', '128',
         '--max_side', '160', '--max_faces', '3']


def _run(*args, rc=0):
    proc = subprocess.run([sys.executable] + list(args), cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == rc, proc.stdout + proc.stderr
    if rc:
        assert 'Traceback' not in proc.stderr
        assert proc.stderr.rstrip().splitlines()[-1].startswith('error: '), proc.stderr
    return proc


@pytest.mark.parametrize('script, ranges', [
    ('tools/gen_dataset.py', ['>= 64', '[4, image_size/2)', '1..8', '>= 1']),
    ('tools/gen_face_dataset.py', ['128 <= min_side <= max_side', '>= min_side', '50..100']),
])
def test_every_flag_has_help_with_its_default(script, ranges):
    text = _run(script, '-h').stdout
    options = re.split(r'\n(?=  -)', text.split('options:' if 'options:' in text
                                                 else 'optional arguments:', 1)[1])
    entries = {e.split()[0].rstrip(','): re.sub(r'\s+', ' ', e) for e in options if e.strip()}
    assert len(entries) >= 8, entries
    for flag, entry in entries.items():
        if flag not in ('-h', '--force'):
            assert '(default:' in entry, entry
    flat = ' '.join(entries.values())
    for r in ranges:
        assert r in flat, r


@pytest.mark.parametrize('cmd', [SHAPES, FACES])
def test_output_dir_that_is_a_file_is_one_line(cmd, tmp_path):
    afile = tmp_path / 'afile'
    afile.write_text('x')
    err = _run(*cmd, '--output_dir', str(afile), rc=2).stderr
    assert 'error: --output_dir: %s is a file, not a directory' % afile in err
    assert 'Errno' not in err


def test_real_wider_face_tree_is_refused_and_force_writes(tmp_path):
    gt = tmp_path / 'wider_face_split' / 'wider_face_train_bbx_gt.txt'
    gt.parent.mkdir()
    gt.write_text('real\n')
    err = _run(*FACES, '--output_dir', str(tmp_path), rc=2).stderr
    assert 'is not empty and holds no built-in face set' in err and '--force' in err
    assert gt.read_text() == 'real\n'
    _run(*FACES, '--output_dir', str(tmp_path), '--force')
    assert gt.read_text() != 'real\n'


def test_coco_tree_is_refused(tmp_path):
    anno = tmp_path / 'coco' / 'annotations' / 'instances_train.json'
    anno.parent.mkdir(parents=True)
    anno.write_text('{}')
    err = _run(*SHAPES, '--output_dir', str(tmp_path), rc=2).stderr
    assert 'is not empty and holds no built-in dataset' in err and '--output_dir' in err
    assert anno.read_text() == '{}'


@pytest.mark.parametrize('cmd, desc', [(SHAPES, 'built-in dataset'),
                                       (FACES, 'built-in face set')])
def test_progress_is_shown_while_writing(cmd, desc, tmp_path):
    proc = _run(*cmd, '--output_dir', str(tmp_path / 'out'))
    assert '%s:' % desc in proc.stderr and '/3 [' in proc.stderr, proc.stderr
