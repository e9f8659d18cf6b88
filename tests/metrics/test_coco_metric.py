"""COCOMetric against pycocotools itself, plus hand-checked values."""
import json
import os

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ppdet.metrics import COCOMetric, cocoapi_eval
from ppdet.metrics import coco_utils

# Non-contiguous category ids, as in real COCO.
CLSID2CATID = {0: 3, 1: 7, 2: 12}


def _ann(ann_id, img, cat, x, y, w, h, crowd=0):
    return {'id': ann_id, 'image_id': img, 'category_id': cat, 'bbox': [x, y, w, h],
            'area': float(w * h), 'iscrowd': crowd}


def _gt():
    return {
        'images': [{'id': i, 'width': 320, 'height': 240, 'file_name': '%d.jpg' % i}
                   for i in (11, 22, 33)],
        'categories': [{'id': 3, 'name': 'cat'}, {'id': 7, 'name': 'dog'},
                       {'id': 12, 'name': 'bird'}],
        'annotations': [
            _ann(1, 11, 3, 10, 10, 20, 20),        # small
            _ann(2, 11, 7, 50, 40, 60, 80),        # medium
            _ann(3, 11, 12, 150, 20, 150, 200),    # large
            _ann(4, 22, 3, 0, 0, 120, 100),        # large
            _ann(5, 22, 3, 200, 100, 100, 100, crowd=1),
            _ann(6, 22, 12, 130, 150, 25, 30),     # small
            _ann(7, 33, 7, 30, 30, 50, 50),        # medium
            _ann(8, 33, 7, 100, 100, 40, 40),      # medium
        ]}


@pytest.fixture
def anno_file(tmp_path):
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(_gt()))
    return str(path)


def _rows(*rows):
    return np.array(rows, dtype=np.float32).reshape(-1, 6)


# (class_id, score, x1, y1, x2, y2) per image; a mix of good, shifted, wrong-class,
# duplicate, crowd-region and background detections.
DETS = {
    11: _rows([0, 0.95, 11, 10, 31, 29], [1, 0.80, 52, 44, 110, 118],
              [2, 0.70, 150, 25, 290, 220], [2, 0.30, 10, 10, 30, 30],
              [1, 0.20, 200, 10, 230, 40]),
    22: _rows([0, 0.90, 2, 1, 118, 104], [0, 0.60, 210, 110, 290, 190],
              [0, 0.50, 1, 0, 119, 99], [2, 0.40, 128, 150, 150, 182]),
    33: _rows([1, 0.85, 30, 30, 80, 80], [1, 0.65, 108, 104, 140, 139],
              [0, 0.55, 30, 30, 80, 80]),
}


def _coco_results(dets):
    out = []
    for im_id, rows in dets.items():
        for r in rows:
            x1, y1, x2, y2 = (float(v) for v in r[2:6])
            out.append({'image_id': im_id, 'category_id': CLSID2CATID[int(r[0])],
                        'bbox': [x1, y1, x2 - x1, y2 - y1], 'score': float(r[1])})
    return out


def _batch(im_ids, dets, pad=0):
    rows, nums = [], []
    for i in im_ids:
        r = dets.get(i, _rows())
        if pad:
            r = np.concatenate([r, _rows(*[[-1, 0, 0, 0, 0, 0]] * pad)])
        rows.append(r)
        nums.append(len(r))
    inputs = {'im_id': np.array(im_ids, dtype=np.int64).reshape(-1, 1)}
    outputs = {'bbox': np.concatenate(rows), 'bbox_num': np.array(nums, dtype=np.int32)}
    return inputs, outputs


def _pycoco_stats(anno_file, results, img_ids=None):
    gt = COCO(anno_file)
    ev = COCOeval(gt, gt.loadRes(results), 'bbox')
    if img_ids is not None:
        ev.params.imgIds = img_ids
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return [float(s) for s in ev.stats]


def test_equals_pycocotools_over_batches_with_padding(anno_file, tmp_path):
    metric = COCOMetric(anno_file, CLSID2CATID, output_eval=str(tmp_path / 'out'))
    metric.reset()
    metric.update(*_batch([11, 22], DETS, pad=2))  # a batch of two, with -1 padding rows
    metric.update(*_batch([33], DETS))
    metric.accumulate()
    metric.log()
    stats = metric.get_results()['bbox']
    expected = _pycoco_stats(anno_file, _coco_results(DETS))
    assert len(stats) == 12
    assert stats == expected
    assert 0.0 < stats[0] < 1.0
    # detections JSON: valid, padding dropped, nothing left behind by the atomic write
    written = json.loads((tmp_path / 'out' / 'bbox.json').read_text())
    assert len(written) == sum(len(r) for r in DETS.values())
    assert sorted(os.listdir(tmp_path / 'out')) == ['bbox.json']
    # the same file evaluated standalone gives the same numbers
    assert cocoapi_eval(str(tmp_path / 'out' / 'bbox.json'), anno_file) == expected


def test_perfect_detections_give_ap_one(anno_file):
    gt = _gt()
    catid2clsid = {v: k for k, v in CLSID2CATID.items()}
    dets = {}
    for a in gt['annotations']:
        if a['iscrowd']:
            continue
        x, y, w, h = a['bbox']
        dets.setdefault(a['image_id'], []).append(
            [catid2clsid[a['category_id']], 0.9, x, y, x + w, y + h])
    dets = {k: _rows(*v) for k, v in dets.items()}
    metric = COCOMetric(anno_file, CLSID2CATID, classwise=True)
    metric.update(*_batch([11, 22, 33], dets))
    metric.accumulate()
    stats = metric.get_results()['bbox']
    assert stats[0] == stats[1] == stats[2] == 1.0   # AP, AP50, AP75
    assert stats[8] == 1.0                           # AR100
    assert metric.per_class == [('cat', 1.0), ('dog', 1.0), ('bird', 1.0)]
    metric.log()


def test_classwise_ap_averages_every_iou_threshold(anno_file):
    """Per-class AP of imperfect boxes (shifted, duplicate, wrong-class: DETS) is pycocotools'
    precision averaged over the 10 IoU thresholds and the recall points, not AP50's."""
    metric = COCOMetric(anno_file, CLSID2CATID, classwise=True)
    metric.update(*_batch([11, 22, 33], DETS))
    metric.accumulate()
    gt = COCO(anno_file)
    ev = COCOeval(gt, gt.loadRes(_coco_results(DETS)), 'bbox')
    ev.evaluate()
    ev.accumulate()
    precision = ev.eval['precision']  # [iou, recall, category, area, max dets]
    names = [gt.loadCats(int(c))[0]['name'] for c in ev.params.catIds]
    assert [n for n, _ in metric.per_class] == names == ['cat', 'dog', 'bird']
    for k, (name, ap) in enumerate(metric.per_class):
        p = precision[:, :, k, 0, -1]
        assert ap == pytest.approx(float(np.mean(p[p > -1])), abs=1e-12), name
        p50 = precision[0, :, k, 0, -1]
        assert abs(ap - float(np.mean(p50[p50 > -1]))) > 0.05, name
    assert 0 < min(ap for _, ap in metric.per_class) < max(ap for _, ap in metric.per_class) < 1


def test_known_value_one_hit_one_miss(tmp_path):
    # 1 image, 2 GT boxes; detections: an exact hit (0.9) then a background box (0.8).
    # Recall reaches 0.5 at precision 1 and never more, so at every IoU threshold the
    # 101-point interpolated precision is 1 for recall 0.00..0.50 (51 points), 0 after:
    # AP = 51/101.
    gt = {'images': [{'id': 1, 'width': 100, 'height': 100}],
          'categories': [{'id': 5, 'name': 'x'}],
          'annotations': [_ann(1, 1, 5, 10, 10, 40, 40), _ann(2, 1, 5, 60, 60, 30, 30)]}
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(gt))
    metric = COCOMetric(str(path), {0: 5})
    metric.update({'im_id': np.array([[1]])},
                  {'bbox': _rows([0, 0.9, 10, 10, 50, 50], [0, 0.8, 0, 70, 20, 95]),
                   'bbox_num': np.array([2])})
    metric.accumulate()
    ap = metric.get_results()['bbox'][0]
    assert ap == pytest.approx(51 / 101, abs=1e-12)


def test_zero_detections(anno_file, tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(coco_utils.logger, 'warning', lambda *a: warnings.append(a[0] % a[1:]))
    metric = COCOMetric(anno_file, CLSID2CATID, output_eval=str(tmp_path))
    metric.update(*_batch([11, 22, 33], {}, pad=1))  # only padding rows
    metric.accumulate()
    metric.log()
    assert metric.get_results() == {'bbox': [0.0] * 12}
    assert any('no detections' in w for w in warnings)
    assert json.loads((tmp_path / 'bbox.json').read_text()) == []


def test_subset_of_images_and_paddle_tensors(anno_file, monkeypatch):
    import paddle
    from ppdet.metrics import metrics as metrics_module
    warnings = []
    monkeypatch.setattr(metrics_module.logger, 'warning', lambda *a: warnings.append(a[0] % a[1:]))
    monkeypatch.setattr(metrics_module, '_SUBSET_WARNED', set())
    metric = COCOMetric(anno_file, CLSID2CATID)
    inputs, outputs = _batch([22, 33], DETS)
    metric.update({'im_id': paddle.to_tensor(inputs['im_id'])},
                  {k: paddle.to_tensor(v) for k, v in outputs.items()})
    stats = metric.get_results()['bbox']
    subset = {k: v for k, v in DETS.items() if k in (22, 33)}
    assert stats == _pycoco_stats(anno_file, _coco_results(subset), img_ids=[22, 33])
    # said once, not once per evaluation (sensitivity analysis repeats the same subset)
    for _ in range(3):
        again = COCOMetric(anno_file, CLSID2CATID)
        again.update(*_batch([22, 33], DETS))
        again.accumulate()
    assert len(warnings) == 1
    assert warnings[0].startswith('evaluated 2 of 3 images in %s; 1 skipped: ' % anno_file)


def test_atomic_json_keeps_old_file_on_failure(anno_file, tmp_path, monkeypatch):
    out = tmp_path / 'bbox.json'
    out.write_text('["old"]')

    def broken_dump(obj, f):
        f.write('[{"partial": ')
        raise RuntimeError('disk full')
    monkeypatch.setattr(coco_utils.json, 'dump', broken_dump)
    metric = COCOMetric(anno_file, CLSID2CATID, output_eval=str(tmp_path))
    metric.update(*_batch([11], DETS))
    with pytest.raises(RuntimeError):
        metric.accumulate()
    assert out.read_text() == '["old"]'
    assert sorted(os.listdir(tmp_path)) == ['bbox.json', 'gt.json']


def test_errors_name_the_problem(anno_file, tmp_path):
    with pytest.raises(ValueError, match='not found'):
        COCOMetric(str(tmp_path / 'missing.json'), CLSID2CATID)
    metric = COCOMetric(anno_file, CLSID2CATID)
    with pytest.raises(ValueError, match='class id 9'):
        metric.update(*_batch([11], {11: _rows([9, 0.5, 0, 0, 5, 5])}))
    metric.reset()
    metric.update(*_batch([99], {99: _rows([0, 0.5, 0, 0, 5, 5])}))
    with pytest.raises(ValueError, match='99'):
        metric.accumulate()


def test_all_areas_only_keeps_the_other_stats_and_the_detections(anno_file):
    """Sensitivity probes match in the 'all' area range only: every stat that is not a
    small / medium / large one equals pycocotools' full evaluation, those are -1, and the
    caller's detection dicts are left as they were."""
    results = _coco_results(DETS)
    before = json.dumps(results, sort_keys=True)
    full = _pycoco_stats(anno_file, json.loads(before))
    stats, _ = coco_utils.evaluate_coco(coco_utils.load_coco_gt(anno_file), results,
                                        all_areas_only=True)
    assert json.dumps(results, sort_keys=True) == before
    by_name = dict(zip(coco_utils.COCO_STAT_NAMES, stats))
    for i, name in enumerate(coco_utils.COCO_STAT_NAMES):
        if name[-1] in 'sml':
            assert by_name[name] == -1, name
        else:
            assert by_name[name] == pytest.approx(full[i], abs=1e-12), name
    assert 0 < by_name['AP'] < 1
    metric = COCOMetric(anno_file, CLSID2CATID)
    metric.compute_only('APm')
    assert not metric.all_areas_only
    metric.compute_only('AP50')
    assert metric.all_areas_only


@pytest.mark.parametrize('img_ids, no_gt_ranges', [
    ([11, 22, 33], []),                   # every area range has ground truth
    ([33], [1, 3]),                       # only medium boxes: small and large have none
    ([], [0, 1, 2, 3]),                   # no image: nothing to score
])
def test_zero_detections_score_like_cocoeval(tmp_path, img_ids, no_gt_ranges):
    """Zero detections gave 0 for every stat, also where the images have no ground truth
    (-1 in COCOeval: nothing to score), so an eval set without boxes scored AP 0 and a
    best_model was saved from it (an audit).  Checked against COCOeval run on one
    detection that matches nothing (pycocotools cannot take an empty list)."""
    gt_path = tmp_path / 'gt.json'
    data = _gt()
    if not img_ids:
        data['annotations'] = []
    gt_path.write_text(json.dumps(data))
    gt = coco_utils.load_coco_gt(str(gt_path))
    ids = img_ids or [11, 22, 33]
    stats, per_class = coco_utils.evaluate_coco(gt, [], img_ids=ids, classwise=True)
    miss = [{'image_id': ids[0], 'category_id': 3, 'bbox': [300, 220, 4, 4], 'score': 0.01}]
    ref, _ = coco_utils.evaluate_coco(gt, miss, img_ids=ids)
    assert stats == [0.0 if r >= 0 else -1.0 for r in ref]
    for k, i in enumerate(coco_utils._STATS_OF_RANGE):
        assert all(stats[j] == (-1.0 if k in no_gt_ranges else 0.0) for j in i), (k, stats)
    named = dict(per_class)
    assert (named['cat'] == 0.0) == (11 in img_ids)     # else nan: no cat box to score


def test_the_summary_line_says_what_minus_one_means():
    assert coco_utils.format_coco_stats([-1.0] * 12).endswith(
        '(-1: the evaluated images have no ground-truth box, so nothing is scored)')
    assert coco_utils.format_coco_stats([0.5] + [-1.0] * 11).endswith('ARl=-1.0000')
