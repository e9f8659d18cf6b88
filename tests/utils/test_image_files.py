"""Picking the images a script runs on, and errors that name the flag to fix."""
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
    with pytest.raises(ValueError, match=r'no images \(.jpg/.jpeg/.png/.bmp\) in .* \(--image_dir\)'):
        collect_images(None, str(tmp_path))
