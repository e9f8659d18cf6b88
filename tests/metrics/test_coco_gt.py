"""The COCO ground truth the metric loads agrees with what the reader reads."""
import json

import pytest

from ppdet.metrics.coco_utils import evaluate_coco, load_coco_gt, not_evaluated_summary

IMAGES = [{'id': i, 'file_name': '%d.jpg' % i, 'width': 100, 'height': 80} for i in (1, 2, 3)]
BOXES = {1: [10, 10, 30, 20], 2: [40, 20, 25, 30], 3: [5, 50, 50, 20]}


def _write(tmp_path, anns, categories=({'id': 1, 'name': 'a'},)):
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps({'images': IMAGES, 'annotations': anns,
                                'categories': list(categories)}))
    return str(path)


def _perfect(cat=1):
    return [{'image_id': i, 'category_id': cat, 'bbox': b, 'score': 0.9}
            for i, b in BOXES.items()]


def test_annotation_id_zero_does_not_turn_a_match_into_a_false_positive(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    anns = [{'id': k, 'image_id': i, 'category_id': 1, 'bbox': b, 'area': b[2] * b[3],
             'iscrowd': 0} for k, (i, b) in enumerate(BOXES.items())]  # ids 0, 1, 2
    path = _write(tmp_path, anns)
    # plain pycocotools scores the perfect set below 1: the match with annotation 0 is lost
    raw = COCO(path)
    ev = COCOeval(raw, raw.loadRes(_perfect()), 'bbox')
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] < 0.99
    stats, _ = evaluate_coco(load_coco_gt(path), _perfect())
    assert stats[0] == pytest.approx(1.0)


def test_degenerate_box_is_left_out_as_the_reader_leaves_it_out(tmp_path):
    anns = [{'id': k + 1, 'image_id': i, 'category_id': 1, 'bbox': b}  # no area/iscrowd
            for k, (i, b) in enumerate(BOXES.items())]
    anns.append({'id': 9, 'image_id': 2, 'category_id': 1, 'bbox': [60, 10, -20, 30]})
    anns.append({'id': 10, 'image_id': 3, 'category_id': 1, 'bbox': [120, 10, 20, 30]})  # outside
    gt = load_coco_gt(_write(tmp_path, anns))
    assert sorted(gt.getAnnIds()) == [1, 2, 3]
    stats, _ = evaluate_coco(gt, _perfect())
    assert stats[0] == pytest.approx(1.0) and stats[8] == pytest.approx(1.0)  # AP, AR100


def test_not_evaluated_summary_names_the_files(tmp_path):
    gt = load_coco_gt(_write(tmp_path, []))
    assert not_evaluated_summary(gt, {1, 2, 3}, 'gt.json') is None
    text = not_evaluated_summary(gt, {1, 3}, 'gt.json')
    assert text.startswith('evaluated 2 of 3 images in gt.json; 1 skipped: 2.jpg')

