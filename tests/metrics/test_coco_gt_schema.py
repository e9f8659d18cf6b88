"""COCOMetric loads the ground-truth json itself (load_coco_gt): it gets the reader's schema
check (ppdet.data.source.coco.check_coco_json; every case: tests/data/test_coco_schema.py),
so the metric can never score a json the reader would refuse."""
import json

import pytest

from ppdet.metrics import COCOMetric, cocoapi_eval

IMAGES = [{'id': i, 'file_name': '%d.jpg' % i, 'width': 100, 'height': 80} for i in (1, 2)]
ANNS = [{'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [10, 10, 30, 20]},
        {'id': 2, 'image_id': 2, 'category_id': 1, 'bbox': [40, 20, 25, 30]}]


def _write(tmp_path, images=IMAGES, annotations=ANNS):
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps({'images': images, 'annotations': annotations,
                                'categories': [{'id': 1, 'name': 'a'}]}))
    return str(path)


def test_metric_refuses_a_repeated_image_id(tmp_path):
    images = [IMAGES[0], dict(IMAGES[1], id=1)]
    path = _write(tmp_path, images=images)
    with pytest.raises(ValueError, match=r'^%s: image id 1 is given to two images, images\[0\] '
                                         r'\(1\.jpg\) and images\[1\] \(2\.jpg\)' % path):
        COCOMetric(path, {0: 1})


def test_metric_refuses_missing_keys_instead_of_a_pycocotools_traceback(tmp_path):
    path = _write(tmp_path, annotations=[{'id': 1, 'category_id': 1, 'bbox': [1, 1, 5, 5]}])
    with pytest.raises(ValueError, match=r'annotations\[0\] \(id 1\) has no "image_id"'):
        COCOMetric(path, {0: 1})
    path = _write(tmp_path, annotations=None)
    with pytest.raises(ValueError, match='"annotations" is null; it must be a list'):
        cocoapi_eval([{'image_id': 1, 'category_id': 1, 'bbox': [1, 1, 5, 5], 'score': 1.}],
                     path)


def test_metric_still_renumbers_annotation_ids(tmp_path):
    anns = [dict(ANNS[0], id=0), dict(ANNS[1], id=0)]
    metric = COCOMetric(_write(tmp_path, annotations=anns), {0: 1})
    assert sorted(metric.coco_gt.getAnnIds()) == [1, 2]
