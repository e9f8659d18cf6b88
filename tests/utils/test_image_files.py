"""Picking the images a script runs on, and errors that name the flag to fix."""
import os
import subprocess
import sys

import pytest

from ppdet.utils.image_files import collect_images


def test_a_file_or_the_images_of_a_folder_sorted(tmp_path):
    for name in ('b.JPG', 'a.png', 'notes.txt'):
        (tmp_path / name).write_bytes(b'x')
    assert collect_images(str(tmp_path / 'a.png')) == [str(tmp_path / 'a.png')]
    assert collect_images(None, str(tmp_path)) == [str(tmp_path / 'a.png'),
                                                   str(tmp_path / 'b.JPG')]


def test_errors_name_the_flag(tmp_path):
    flags = ('--infer_img', '--infer_dir')
    with pytest.raises(FileNotFoundError, match=r'image not found: .*x\.jpg \(--infer_img\)'):
        collect_images(str(tmp_path / 'x.jpg'), None, flags)
    with pytest.raises(ValueError, match='give --infer_img FILE or --infer_dir DIR'):
        collect_images(None, None, flags)
    with pytest.raises(FileNotFoundError, match=r'image directory not found: .* \(--infer_dir\)'):
        collect_images(None, str(tmp_path / 'missing'), flags)
    with pytest.raises(ValueError, match=r'no images \(.jpg/.jpeg/.png/.bmp/.webp/.tif/.tiff\) '
                                         r'in .* \(--image_dir\)'):
        collect_images(None, str(tmp_path))


def test_a_folder_lists_every_format_the_readers_decode(tmp_path):
    """One list (IMAGE_EXTS) for the scripts' folders, the datasets' folders and the
    messages: --infer_dir left .webp / .tif out and its error named only four formats, while
    --infer_img and the dataset folders read them."""
    from ppdet.data.source.dataset import IMAGE_EXTS as DATASET_EXTS
    from ppdet.utils.image_files import IMAGE_EXTS
    assert DATASET_EXTS is IMAGE_EXTS
    for name in ('a.webp', 'b.TIF', 'c.tiff', 'd.txt'):
        (tmp_path / name).write_bytes(b'x')
    assert [os.path.basename(p) for p in collect_images(None, str(tmp_path))] == [
        'a.webp', 'b.TIF', 'c.tiff']


def test_infer_script_error_lists_every_accepted_format(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run(
        [sys.executable, 'tools/infer.py', '-c', 'configs/builtin/yolov3_r18_builtin.yml',
         '--infer_dir', str(tmp_path), '--output_dir', str(tmp_path / 'out')],
        cwd=root, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=root))
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1] == (
        'error: no images (.jpg/.jpeg/.png/.bmp/.webp/.tif/.tiff) in %s (--infer_dir)' % tmp_path)
