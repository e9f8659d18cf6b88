"""benchmarks/pruning_levels.py's command line: --out and --work_dir checked before any
evaluation; the JSON written atomically (its folder made) with the date, the command and
the CPU."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks import pruning_levels  # noqa: E402

CONFIG = os.path.join(ROOT, pruning_levels.DEFAULT_CONFIG)


def test_out_that_is_a_directory_or_under_a_file_is_refused_first(tmp_path):
    (tmp_path / 'f').write_text('')
    # was an IsADirectoryError traceback after the whole evaluation
    with pytest.raises(ValueError, match='--out: .* is a directory'):
        pruning_levels.main(['-c', CONFIG, '--work_dir', str(tmp_path), '--out', str(tmp_path)])
    with pytest.raises(ValueError, match='--out: .* is a file'):
        pruning_levels.main(['-c', CONFIG, '--work_dir', str(tmp_path), '--out',
                             str(tmp_path / 'f' / 'x.json')])


def test_missing_work_dir_is_said_to_be_missing(tmp_path):
    with pytest.raises(ValueError, match='--work_dir .*none does not exist'):
        pruning_levels.main(['-c', CONFIG, '--work_dir', str(tmp_path / 'none'), '--out',
                             str(tmp_path / 'x.json')])
    assert os.listdir(str(tmp_path)) == []


def test_result_goes_into_a_new_folder_with_date_command_and_cpu(tmp_path, monkeypatch):
    from ppdet.utils.fileio import write_json
    write_json(str(tmp_path / 'results.json'), {'prune_plans': {}, 'baseline': {'AP': 0.5}})
    monkeypatch.setattr(pruning_levels, 'sizes_of_rows', lambda pipe, anno: {})
    monkeypatch.setattr(pruning_levels, 'branches_alone', lambda pipe: {})
    out = str(tmp_path / 'new' / 'levels.json')      # was Errno 2: no folder made
    anno = tmp_path / 'data' / 'coco' / 'annotations' / 'instances_val.json'
    anno.parent.mkdir(parents=True)
    anno.write_text('{}')       # the eval annotations are checked before the first table
    argv = ['-c', CONFIG, '--work_dir', str(tmp_path), '--dataset_dir', str(tmp_path / 'data'),
            '--out', out]
    pruning_levels.main(argv)
    res = json.load(open(out))
    assert res['baseline_AP'] == 0.5 and res['date']
    assert res['command'] == 'python benchmarks/pruning_levels.py ' + ' '.join(argv)
    assert res['cpu'] and res['cpu_flags']['summary'] == res['cpu']


def test_branches_of_every_family():
    """The branch-alone table grouped by YOLOv3's yolo_block.N only: other families' names
    failed with an AttributeError."""
    assert pruning_levels.branch_of('yolo_block.2.tip.conv.weights') == 'yolo_block.2'
    # RetinaNet's (prune.py -P): one branch per tower and per FPN conv kind
    assert pruning_levels.branch_of('head.cls_tower.convs.0.weight') == 'head.cls_tower'
    assert pruning_levels.branch_of('neck.lateral_convs.0.conv.weight') == 'neck.lateral_convs'
