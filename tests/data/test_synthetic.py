import json
import os

import numpy as np

from ppdet.data import COCODataSet, VOCDataSet
from ppdet.data.synthetic import CLASSES, generate_dataset


def _files(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, 'rb') as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def test_deterministic_bytes(builtin_dir, tmp_path):
    again = str(tmp_path / 'again')
    generate_dataset(again, num_train=16, num_val=8, image_size=128, seed=3)
    a, b = _files(builtin_dir), _files(again)
    a.pop('manifest.json'), b.pop('manifest.json')  # holds the generation time
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    other = str(tmp_path / 'other')
    generate_dataset(other, num_train=2, num_val=1, image_size=128, seed=4)
    assert _files(other)['coco/train/train_000001.jpg'] != a['coco/train/train_000001.jpg']


def test_rerun_is_skipped_and_changed_params_regenerate(tmp_path, ppdet_log):
    out = str(tmp_path / 'ds')
    first = generate_dataset(out, num_train=3, num_val=2, image_size=96)
    mtime = os.path.getmtime(os.path.join(out, 'coco/train/train_000001.jpg'))
    assert generate_dataset(out, num_train=3, num_val=2, image_size=96) == first
    assert 'already in' in ppdet_log.text
    assert os.path.getmtime(os.path.join(out, 'coco/train/train_000001.jpg')) == mtime
    generate_dataset(out, num_train=2, num_val=2, image_size=96)  # fewer: stale files removed
    assert not os.path.exists(os.path.join(out, 'coco/train/train_000003.jpg'))
    assert not os.path.exists(os.path.join(out, 'voc/JPEGImages/train_000003.jpg'))
    with open(os.path.join(out, 'voc/trainval.txt')) as f:
        assert len(f.readlines()) == 2


def test_coco_and_voc_agree(builtin_dir):
    for split, coco_anno, voc_list in (('train', 'instances_train.json', 'trainval.txt'),
                                       ('val', 'instances_val.json', 'test.txt')):
        coco = COCODataSet(os.path.join(builtin_dir, 'coco'), split, 'annotations/' + coco_anno)
        voc = VOCDataSet(os.path.join(builtin_dir, 'voc'), voc_list, 'label_list.txt')
        assert coco.label_list() == voc.label_list() == CLASSES
        assert len(coco) == len(voc) == {'train': 16, 'val': 8}[split]
        voc_by_name = {os.path.basename(r['im_file']): r for r in voc.roidbs}
        for rec in coco.roidbs:
            other = voc_by_name[os.path.basename(rec['im_file'])]
            np.testing.assert_array_equal(rec['gt_bbox'], other['gt_bbox'])
            np.testing.assert_array_equal(rec['gt_class'], other['gt_class'])
            with open(rec['im_file'], 'rb') as f1, open(other['im_file'], 'rb') as f2:
                assert f1.read() == f2.read()


def test_content_statistics(builtin_dir):
    with open(os.path.join(builtin_dir, 'manifest.json')) as f:
        stats = json.load(f)['statistics']['train']
    assert stats['images'] == 16 and stats['boxes'] >= 16
    assert stats['boxes_per_image']['min'] >= 1 and stats['boxes_per_image']['max'] <= 8
    assert sum(stats['per_class'].values()) == stats['boxes']
    with open(os.path.join(builtin_dir, 'coco/annotations/instances_train.json')) as f:
        coco = json.load(f)
    for a in coco['annotations']:
        x, y, w, h = a['bbox']
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 128 and y + h <= 128
        assert 0 < a['area'] <= w * h


def test_difficulty_knobs(tmp_path):
    m = generate_dataset(str(tmp_path), num_train=6, num_val=1, image_size=128, min_size=40,
                         max_objects=2)
    stats = m['statistics']['train']
    assert stats['boxes_per_image']['max'] <= 2
    assert stats['box_sqrt_area_px']['min'] >= 20  # thin/rotated shapes: box side >= extent/2


def test_refuses_a_non_empty_dir_that_holds_no_generated_set(tmp_path):
    """A user's COCO tree is never written over (it used to lose instances_train.json);
    force writes into it, overwriting only the names the generator writes."""
    import pytest
    anno = tmp_path / 'coco' / 'annotations' / 'instances_train.json'
    anno.parent.mkdir(parents=True)
    anno.write_text('{"real": true}')
    mine = tmp_path / 'voc' / 'JPEGImages' / 'my_photo.jpg'
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b'mine')
    with pytest.raises(ValueError, match='not empty and holds no built-in dataset.*--force'):
        generate_dataset(str(tmp_path), num_train=2, num_val=1, image_size=64, min_size=8)
    assert anno.read_text() == '{"real": true}'
    assert sorted(os.listdir(tmp_path)) == ['coco', 'voc']
    generate_dataset(str(tmp_path), num_train=2, num_val=1, image_size=64, min_size=8,
                     force=True)
    assert anno.read_text() != '{"real": true}' and mine.read_bytes() == b'mine'


def test_changed_params_regenerate_with_one_line_naming_them(tmp_path, ppdet_log):
    out = str(tmp_path / 'ds')
    generate_dataset(out, num_train=3, num_val=1, image_size=64, min_size=8)
    generate_dataset(out, num_train=2, num_val=1, image_size=64, min_size=8, seed=5)
    lines = [m for m in ppdet_log.messages if m.startswith('regenerating')]
    assert lines == ['regenerating %s: it holds a built-in dataset made with other parameters: '
                     'num_train 3 -> 2, seed 0 -> 5; its files are replaced' % out], lines
    with open(os.path.join(out, 'manifest.json')) as f:
        assert json.load(f)['params']['num_train'] == 2


def test_an_interrupted_set_is_recognised_and_regenerated(tmp_path, ppdet_log, monkeypatch):
    """Killed part-way the set has no manifest (it must not look complete) but its marker,
    written first, says it is ours: the next run regenerates it instead of refusing it."""
    import pytest
    import ppdet.data.synthetic as synthetic
    out = str(tmp_path / 'ds')
    render, calls = synthetic.render_image, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return render(*args)

    monkeypatch.setattr(synthetic, 'render_image', interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(out, num_train=4, num_val=1, image_size=64, min_size=8)
    monkeypatch.setattr(synthetic, 'render_image', render)
    assert not os.path.exists(os.path.join(out, 'manifest.json'))
    assert os.path.exists(os.path.join(out, 'manifest.partial.json'))
    m = generate_dataset(out, num_train=4, num_val=1, image_size=64, min_size=8)
    assert any('unfinished built-in dataset' in x for x in ppdet_log.messages)
    assert m['statistics']['train']['images'] == 4
    assert not os.path.exists(os.path.join(out, 'manifest.partial.json'))
    assert generate_dataset(out, num_train=4, num_val=1, image_size=64, min_size=8) == m
