"""benchmarks/order_effect.py's command line: a group without a size, a work dir not built."""
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
