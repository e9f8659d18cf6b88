"""benchmarks/order_effect.py's command line: a group without a size, a work dir not built,
a count that leaves no samples."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from benchmarks import order_effect  # noqa: E402


def test_bad_group_and_missing_build_name_the_fix(tmp_path):
    with pytest.raises(SystemExit, match="--group: 'yolov3_mobilenet_v1' needs an input size"):
        order_effect.main(['--group', 'yolov3_mobilenet_v1', '--work_dir', str(tmp_path)])
    with pytest.raises(SystemExit, match='build the rows first .*--stage build'):
        order_effect.main(['--work_dir', str(tmp_path / 'none')])


def test_zero_blocks_fail_before_loading_anything(tmp_path):
    from ppdet.utils.fileio import write_json
    write_json(str(tmp_path / 'manifest.json'), {'rows': {}})
    with pytest.raises(ValueError, match='--blocks must be at least 1, got 0'):
        order_effect.main(['--work_dir', str(tmp_path), '--blocks', '0'])
