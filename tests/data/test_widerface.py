"""WIDERFaceDataSet on tiny trees in the official layout (ground-truth text file, images,
eval_tools .mat files) that the tests write."""
import os

import numpy as np
import pytest

from ppdet.data import build_dataset
from ppdet.data.source.widerface import (COUNT_MISMATCH, WIDERFaceDataSet,
                                         read_wider_annotation)

from wider_tree import IMAGES, face_line, write_wider, write_wider_mat


def _dataset(root, anno, **kw):
    return WIDERFaceDataSet(dataset_dir=root, image_dir=IMAGES % 'val', anno_path=anno, **kw)


def test_reads_the_official_layout(tmp_path):
    root = str(tmp_path)
    anno = write_wider(root, [
        ('0--Parade/0_Parade_a.jpg', [face_line(10, 5, 20, 12, blur=2, occlusion=1),
                                      face_line(30.5, 2, 8, 9, invalid=1, pose=1)]),
        ('1--Handshaking/1_Handshaking_b.jpg', []),          # 0 faces: count 0 + line of zeros
        ('1--Handshaking/1_Handshaking_c.jpg', [face_line(0, 0, 64, 48, expression=1,
                                                          illumination=1)]),
    ], size=(64, 48))
    ds = _dataset(root, anno, allow_empty=True)
    assert ds.label_list() == ['face'] and ds.num_classes == 1
    assert len(ds) == 3
    a, b, c = ds.roidbs
    assert a['im_file'] == os.path.join(root, 'WIDER_val/images/0--Parade/0_Parade_a.jpg')
    assert (a['h'], a['w']) == (48.0, 64.0)   # from the image header
    assert a['im_id'].tolist() == [0] and c['im_id'].tolist() == [2]
    # x2 = x1 + w, y2 = y1 + h
    np.testing.assert_allclose(a['gt_bbox'], [[10, 5, 30, 17], [30.5, 2, 38.5, 11]])
    assert a['gt_bbox'].dtype == np.float32
    assert a['gt_class'].tolist() == [[0], [0]] and a['gt_class'].dtype == np.int32
    # attributes as written: blur expression illumination invalid occlusion pose
    assert a['wider_attrs'].tolist() == [[2, 0, 0, 0, 1, 0], [0, 0, 0, 1, 0, 1]]
    np.testing.assert_allclose(a['wider_faces'], [[10, 5, 20, 12], [30.5, 2, 8, 9]])
    assert (a['wider_event'], a['wider_name']) == ('0--Parade', '0_Parade_a')
    assert b['gt_bbox'].shape == (0, 4) and b['wider_faces'].shape == (0, 4)
    np.testing.assert_allclose(c['gt_bbox'], [[0, 0, 64, 48]])
    assert c['wider_attrs'].tolist() == [[0, 1, 1, 0, 0, 0]]


def test_images_without_faces_need_allow_empty(tmp_path, ppdet_log):
    root = str(tmp_path)
    anno = write_wider(root, [('0--Parade/a.jpg', []),
                              ('0--Parade/b.jpg', [face_line(1, 1, 5, 5)])])
    ds = _dataset(root, anno)
    assert [r['wider_name'] for r in ds.roidbs] == ['b']
    assert ds.skip_counter.records == {'no faces': 1}
    assert 'skipped 1 of 2 records: 1 no faces' in ppdet_log.text
    assert len(_dataset(root, anno, sample_num=1, allow_empty=True)) == 1


def test_bad_input_is_counted_and_never_shifts_later_images(tmp_path, ppdet_log):
    root = str(tmp_path)
    anno = write_wider(root, [
        ('0--Parade/ok.jpg', [face_line(1, 1, 10, 10)]),
        ('0--Parade/too_many.jpg', [face_line(1, 1, 10, 10)]),
        ('0--Parade/too_few.jpg', [face_line(1, 1, 10, 10), face_line(2, 2, 5, 5)]),
        ('0--Parade/gone.jpg', [face_line(1, 1, 10, 10)]),
        ('0--Parade/degenerate.jpg', [face_line(1, 1, 0, 10), face_line(5, 5, 10, -3),
                                      face_line(3, 4, 6, 7)]),
        ('0--Parade/last.jpg', [face_line(2, 3, 4, 5)]),
    ])
    with open(os.path.join(root, anno)) as f:
        text = f.read()
    # "too_many" claims 3 faces but 1 line follows; "too_few" claims 1 but 2 lines follow
    text = text.replace('too_many.jpg\n1\n', 'too_many.jpg\n3\n')
    text = text.replace('too_few.jpg\n2\n', 'too_few.jpg\n1\n')
    with open(os.path.join(root, anno), 'w') as f:
        f.write(text)
    os.remove(os.path.join(root, IMAGES % 'val', '0--Parade/gone.jpg'))
    ds = _dataset(root, anno)
    assert [r['wider_name'] for r in ds.roidbs] == ['ok', 'degenerate', 'last']
    # im_id is the position in the file: later images keep theirs
    assert [int(r['im_id'][0]) for r in ds.roidbs] == [0, 4, 5]
    np.testing.assert_allclose(ds.roidbs[1]['gt_bbox'], [[3, 4, 9, 11]])
    assert len(ds.roidbs[1]['wider_faces']) == 3       # the file's faces stay for the metric
    np.testing.assert_allclose(ds.roidbs[2]['gt_bbox'], [[2, 3, 6, 8]])
    assert ds.skip_counter.records == {COUNT_MISMATCH: 2, 'missing images': 1}
    log = ppdet_log.text
    assert 'skipped 3 of 6 records: 2 %s, 1 missing images' % COUNT_MISMATCH in log
    assert '2 dropped as degenerate (zero/negative area' in log
    assert 'too_many.jpg: count 3, 1 face line(s)' in log
    assert 'gone.jpg' in log


def test_malformed_counts_and_files(tmp_path):
    root = str(tmp_path)
    anno = write_wider(root, [('0--Parade/a.jpg', [face_line(1, 1, 5, 5)]),
                              ('0--Parade/b.jpg', [face_line(1, 1, 5, 5)])])
    path = os.path.join(root, anno)
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text.replace('a.jpg\n1\n', 'a.jpg\n1.5\n').replace(
            'b.jpg\n1\n1 1 5 5 0 0 0 0 0 0', 'b.jpg\n1\n1 1 5'))
    entries = read_wider_annotation(path)
    assert [e['error'] for e in entries] == ['face count line is not a non-negative integer',
                                             'face line with fewer than 4 numbers']
    with pytest.raises(ValueError, match=r'no usable records in .*wider_face_val_bbx_gt.txt'):
        _dataset(root, anno)
    with open(path, 'w') as f:
        f.write('3\n1 2 3 4\n')
    with pytest.raises(ValueError, match=r'line 1: expected an image path'):
        _dataset(root, anno)
    with pytest.raises(FileNotFoundError, match=r'WIDER FACE ground-truth file .*nothere.txt '
                                                r'not found'):
        _dataset(root, 'wider_face_split/nothere.txt')


def test_subsets_without_mat_files_are_all_valid_faces(tmp_path, ppdet_log):
    root = str(tmp_path)
    anno = write_wider(root, [
        ('0--Parade/a.jpg', [face_line(1, 1, 10, 10), face_line(20, 1, 10, 10, invalid=1),
                             face_line(5, 5, 0, 8), face_line(30, 30, 6, 6, blur=2)]),
        ('1--Handshaking/b.jpg', []),
    ])
    gt = _dataset(root, anno, allow_empty=True).wider_ground_truth()
    assert gt['official'] is False and 'NOT the official subsets' in gt['source']
    assert 'NOT the official subsets' in ppdet_log.text
    a, b = gt['images']
    assert (a['im_id'], a['event'], a['name'], a['file']) == (0, '0--Parade', 'a',
                                                               '0--Parade/a.jpg')
    np.testing.assert_allclose(a['boxes'], [[1, 1, 10, 10], [20, 1, 10, 10], [5, 5, 0, 8],
                                            [30, 30, 6, 6]])
    for subset in ('easy', 'medium', 'hard'):
        assert a['keep'][subset].tolist() == [0, 3]      # not invalid, positive size
        assert b['keep'][subset].tolist() == []
    assert b['boxes'].shape == (0, 4)


EVENTS = [('0--Parade', [('a', [[1, 1, 10, 10], [20, 1, 10, 10]]),
                         ('b', np.zeros([0, 4]))]),
          ('1--Handshaking', [('c', [[3, 3, 9, 9], [30, 3, 9, 9], [3, 30, 5, 5]])])]
SUBSETS = {'easy': [[[1], []], [[2]]],
           'medium': [[[1, 2], []], [[1, 2]]],
           'hard': [[[1, 2], []], [[1, 2, 3]]]}


def _tree_with_mats(root, **kw):
    anno = write_wider(root, [
        ('0--Parade/a.jpg', [face_line(1, 1, 10, 10), face_line(20, 1, 10, 10)]),
        ('0--Parade/b.jpg', []),
        ('1--Handshaking/c.jpg', [face_line(3, 3, 9, 9), face_line(30, 3, 9, 9),
                                  face_line(3, 30, 5, 5)])])
    write_wider_mat(root, EVENTS, SUBSETS, **kw)
    return anno


def test_official_mat_ground_truth(tmp_path):
    root = str(tmp_path)
    anno = _tree_with_mats(root)
    ds = _dataset(root, anno, allow_empty=True)
    assert ds.split() == 'val'
    gt = ds.wider_ground_truth()
    assert gt['official'] is True
    ims = gt['images']
    assert [(im['event'], im['name'], im['im_id']) for im in ims] == [
        ('0--Parade', 'a', 0), ('0--Parade', 'b', 1), ('1--Handshaking', 'c', 2)]
    np.testing.assert_allclose(ims[2]['boxes'], EVENTS[1][1][0][1])
    assert ims[1]['boxes'].shape == (0, 4)
    # 1-based gt_list -> 0-based indices
    assert ims[0]['keep']['easy'].tolist() == [0]
    assert ims[0]['keep']['hard'].tolist() == [0, 1]
    assert ims[1]['keep']['medium'].tolist() == []
    assert ims[2]['keep']['easy'].tolist() == [1]
    assert ims[2]['keep']['hard'].tolist() == [0, 1, 2]
    assert ims[2]['file'] == '1--Handshaking/c.jpg'


def test_mat_image_without_record_and_record_without_mat(tmp_path):
    root = str(tmp_path)
    anno = _tree_with_mats(root)
    os.remove(os.path.join(root, IMAGES % 'val', '0--Parade/a.jpg'))
    gt = _dataset(root, anno, allow_empty=True).wider_ground_truth()
    assert [im['im_id'] for im in gt['images']] == [None, 1, 2]   # a.jpg was not read
    # a record the .mat files do not list: they are for another split
    write_wider_mat(root, EVENTS[:1], {k: v[:1] for k, v in SUBSETS.items()})
    with pytest.raises(ValueError, match=r"1 image\(s\) of .* are not in .*wider_face_val.mat "
                                         r"\(e.g. 1--Handshaking/c.jpg\).*subset_dir: null"):
        _dataset(root, anno, allow_empty=True).wider_ground_truth()
    assert not _dataset(root, anno, allow_empty=True,
                        subset_dir=None).wider_ground_truth()['official']


def test_incomplete_or_inconsistent_mat_files(tmp_path):
    root = str(tmp_path)
    anno = write_wider(root, [('0--Parade/a.jpg', [face_line(1, 1, 10, 10)])])
    write_wider_mat(root, EVENTS[:1], {}, only=('face',))
    with pytest.raises(FileNotFoundError, match=r'holds wider_face_val.mat but not .*'
                                                r'wider_easy_val.mat'):
        _dataset(root, anno).wider_ground_truth()
    bad = {'easy': [[[3], []]], 'medium': [[[1], []]], 'hard': [[[1], []]]}
    write_wider_mat(root, EVENTS[:1], bad)
    with pytest.raises(ValueError, match=r'wider_easy_val.mat: gt_list of 0--Parade/a holds '
                                         r'\[3.0\], but the image has 2 faces'):
        _dataset(root, anno).wider_ground_truth()
    short = {k: [[[1]]] for k in ('easy', 'medium', 'hard')}
    write_wider_mat(root, EVENTS[:1], short, only=('easy', 'medium', 'hard'))
    with pytest.raises(ValueError, match=r'gt_list has \[1\] images per event'):
        _dataset(root, anno).wider_ground_truth()


def test_train_split_has_no_mat_files_and_builds_from_config(tmp_path):
    root = str(tmp_path)
    anno = write_wider(root, [('0--Parade/a.jpg', [face_line(1, 1, 10, 10)])], split='train')
    cfg = {'num_classes': 1, 'TrainDataset': {
        'name': 'WIDERFaceDataSet', 'dataset_dir': root, 'image_dir': IMAGES % 'train',
        'anno_path': anno}}
    ds = build_dataset(cfg, 'TrainDataset')
    assert isinstance(ds, WIDERFaceDataSet) and ds.split() == 'train'
    assert ds.on_bad_image == 'substitute'
    assert ds.wider_ground_truth()['official'] is False


def test_shipped_config_reads_the_official_paths(tmp_path):
    from ppdet.core.workspace import load_config
    from ppdet.metrics import WiderFaceMetric, build_metric
    root = str(tmp_path)
    write_wider(root, [('0--Parade/t.jpg', [face_line(1, 1, 10, 10)])], split='train')
    _tree_with_mats(root)
    here = os.path.dirname(os.path.abspath(__file__))
    cfg = load_config(os.path.join(here, '..', '..', 'configs', 'datasets', 'wider_face.yml'))
    assert cfg['metric'] == 'WiderFace' and cfg['num_classes'] == 1
    for section in ('TrainDataset', 'EvalDataset'):
        cfg[section]['dataset_dir'] = root
    assert len(build_dataset(cfg, 'TrainDataset')) == 1
    ev = build_dataset(cfg, 'EvalDataset')
    assert len(ev) == 3                                   # the 0-face image is kept
    metric = build_metric(cfg, ev)
    assert isinstance(metric, WiderFaceMetric) and metric.official


def test_ground_truth_is_read_once_per_set_of_records(tmp_path, ppdet_log):
    root = str(tmp_path)
    anno = write_wider(root, [('0--Parade/a.jpg', [face_line(1, 1, 10, 10)]),
                              ('0--Parade/b.jpg', [face_line(1, 1, 10, 10)])])
    ds = _dataset(root, anno)
    first = ds.wider_ground_truth()
    assert ds.wider_ground_truth() is first
    assert ppdet_log.text.count('NOT the official subsets') == 1
    ds.roidbs = ds.roidbs[:1]           # e.g. the decode probe left an image out
    assert [im['name'] for im in ds.wider_ground_truth()['images']] == ['a']
