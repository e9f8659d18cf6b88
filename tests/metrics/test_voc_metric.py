"""VOC mAP on hand-computed cases; matching rules; batch layouts."""
import numpy as np
import pytest

from ppdet.metrics import VOCMetric
from ppdet.metrics.map_utils import ap_11point, ap_integral, box_iou

# One class. Pixel boxes are inclusive (width = x2 - x1 + 1).
#   image 1: G1 [0,0,9,9], G2 [20,20,29,29], D [40,40,49,49] (difficult)
#   image 2: G3 [0,0,19,19]
# Detections, by score:
#   0.9 img1 on G1          -> TP
#   0.8 img1 on D           -> ignored (difficult), neither TP nor FP
#   0.7 img2 background     -> FP
#   0.6 img2 on G3          -> TP
#   0.5 img1 on G1 again    -> FP (duplicate)
#   plus one class -1 padding row in image 2.
# Positives: 3 (difficult excluded).  Ranked TP, FP, TP, FP:
#   precision 1, 1/2, 2/3, 1/2 ; recall 1/3, 1/3, 2/3, 2/3
# 11-point: t = 0, .1, .2, .3 -> max precision at recall >= t is 1 (4 points);
#           t = .4, .5, .6 -> 2/3 (3 points); t >= .7 -> 0.   AP = (4 + 2) / 11 = 6/11
# integral: envelope 1 on (0, 1/3], 2/3 on (1/3, 2/3], 0 after: AP = 1/3 + 2/9 = 5/9
#
# With evaluate_difficult=True: 4 positives, D becomes a TP. Ranked TP, TP, FP, TP, FP:
#   precision 1, 1, 2/3, 3/4, 3/5 ; recall 1/4, 1/2, 1/2, 3/4, 3/4
# 11-point: t <= .5 -> 1 (6 points); t = .6, .7 -> 3/4 (2 points): AP = 7.5/11 = 15/22
# integral: 1/4 * 1 + 1/4 * 1 + 1/4 * 3/4 = 11/16
GT1 = [[0, 0, 9, 9], [20, 20, 29, 29], [40, 40, 49, 49]]
DIFF1 = [0, 0, 1]
GT2 = [[0, 0, 19, 19]]
DETS1 = [[0, 0.9, 0, 0, 9, 9], [0, 0.8, 40, 40, 49, 49], [0, 0.5, 0, 0, 9, 9]]
DETS2 = [[0, 0.7, 50, 50, 59, 59], [0, 0.6, 0, 0, 19, 19], [-1, 0.0, 0, 0, 0, 0]]


def _outputs(*per_image):
    rows = [np.array(r, dtype=np.float32).reshape(-1, 6) for r in per_image]
    return {'bbox': np.concatenate(rows), 'bbox_num': np.array([len(r) for r in rows], np.int32)}


def _padded_inputs():
    """[B, M, ...] arrays; image 2's missing rows are all-zero padding."""
    gt_bbox = np.zeros((2, 3, 4), np.float32)
    gt_bbox[0] = GT1
    gt_bbox[1, 0] = GT2[0]
    gt_class = np.zeros((2, 3, 1), np.int32)
    difficult = np.zeros((2, 3, 1), np.int32)
    difficult[0, :, 0] = DIFF1
    return {'im_id': np.array([[1], [2]]), 'gt_bbox': gt_bbox, 'gt_class': gt_class,
            'difficult': difficult}


def _list_inputs():
    return {'im_id': np.array([[1], [2]]),
            'gt_bbox': [np.array(GT1, np.float32), np.array(GT2, np.float32)],
            'gt_class': [np.zeros((3, 1), np.int32), np.zeros((1, 1), np.int32)],
            'difficult': [np.array(DIFF1).reshape(-1, 1), np.zeros((1, 1), np.int32)]}


def _map(inputs, map_type, evaluate_difficult=False):
    metric = VOCMetric(['thing'], 1, map_type=map_type, evaluate_difficult=evaluate_difficult,
                       classwise=True)
    metric.reset()
    metric.update(inputs, _outputs(DETS1, DETS2))
    metric.accumulate()
    metric.log()
    return metric.get_results()['bbox'][0]


@pytest.mark.parametrize('make_inputs', [_padded_inputs, _list_inputs])
def test_hand_computed_map(make_inputs):
    assert _map(make_inputs(), '11point') == pytest.approx(6 / 11, abs=1e-12)
    assert _map(make_inputs(), 'integral') == pytest.approx(5 / 9, abs=1e-12)
    assert _map(make_inputs(), 'area') == pytest.approx(5 / 9, abs=1e-12)


def test_hand_computed_map_with_difficult_evaluated():
    assert _map(_padded_inputs(), '11point', True) == pytest.approx(15 / 22, abs=1e-12)
    assert _map(_padded_inputs(), 'integral', True) == pytest.approx(11 / 16, abs=1e-12)


def test_images_split_over_batches_match_one_batch():
    metric = VOCMetric(['thing'], 1, map_type='integral')
    full = _list_inputs()
    for i, dets in enumerate([DETS1, DETS2]):
        metric.update({k: v[i:i + 1] for k, v in full.items()}, _outputs(dets))
    assert metric.get_results()['bbox'][0] == pytest.approx(5 / 9, abs=1e-12)


def test_ap_formulas_directly():
    recall, precision = [1 / 3, 1 / 3, 2 / 3, 2 / 3], [1, 1 / 2, 2 / 3, 1 / 2]
    assert ap_11point(recall, precision) == pytest.approx(6 / 11)
    assert ap_integral(recall, precision) == pytest.approx(5 / 9)
    assert ap_11point([], []) == 0.0 and ap_integral([], []) == 0.0


def test_iou_pixel_convention():
    a = np.array([0, 0, 9, 9], np.float64)
    b = np.array([[5, 0, 14, 9]], np.float64)
    # inclusive pixels: 10x10 boxes overlapping 5x10 -> 50 / 150
    assert box_iou(a, b)[0] == pytest.approx(1 / 3)
    # normalized boxes have no +1: 9x9 boxes overlapping 4x9 -> 36 / 126
    assert box_iou(a, b, is_bbox_normalized=True)[0] == pytest.approx(36 / 126)


def test_iou_must_exceed_threshold():
    # inclusive IoU of [0,0,9,9] and [0,0,9,4] is exactly 50/100 = 0.5: not a match at 0.5
    metric = VOCMetric(['a'], 1)
    metric.update({'im_id': [[1]], 'gt_bbox': [np.array([[0, 0, 9, 9]])],
                   'gt_class': [np.array([[0]])]}, _outputs([[0, 0.9, 0, 0, 9, 4]]))
    assert metric.get_results()['bbox'] == [0.0]


def test_classes_without_gt_are_skipped_and_missed_classes_count_zero():
    # class 0 perfect (AP 1); class 1 has GT but no detection (AP 0);
    # class 2 has only a false positive and no GT (not part of the mean). mAP = 0.5
    inputs = {'im_id': np.array([[7]]),
              'gt_bbox': np.array([[[0, 0, 9, 9], [20, 20, 29, 29], [0, 0, 0, 0]]]),
              'gt_class': np.array([[[0], [1], [0]]])}
    metric = VOCMetric(['a', 'b', 'c'], 3, classwise=True)
    metric.update(inputs, _outputs([[0, 0.9, 0, 0, 9, 9], [2, 0.8, 50, 50, 60, 60]]))
    assert metric.get_results()['bbox'] == [0.5]
    assert metric.per_class_ap() == [('a', 1.0), ('b', 0.0), ('c', None)]
    metric.log()


def test_zero_detections_and_reset():
    metric = VOCMetric(['thing'], 1)
    metric.update(_list_inputs(), {'bbox': np.zeros((0, 6), np.float32),
                                   'bbox_num': np.array([0, 0], np.int32)})
    assert metric.get_results()['bbox'] == [0.0]
    metric.reset()
    metric.update(_list_inputs(), _outputs(DETS1, DETS2))
    assert metric.get_results()['bbox'][0] == pytest.approx(6 / 11)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="map_type 'voc07'"):
        VOCMetric(['a'], 1, map_type='voc07')
    with pytest.raises(ValueError, match='class_num is 2'):
        VOCMetric(['a'], 2)
    metric = VOCMetric(['a'], 1)
    with pytest.raises(ValueError, match='class id 3'):
        metric.update({'im_id': [[1]], 'gt_bbox': [np.array([[0, 0, 5, 5]])],
                       'gt_class': [np.array([[3]])]}, _outputs([]))
    with pytest.raises(KeyError, match='gt_bbox'):
        metric.update({'im_id': [[1]]}, _outputs([]))


def test_no_positive_object_scores_minus_one(ppdet_log):
    """Every object difficult (or none): mAP -1, nothing to score (it was 0, read as a model
    that missed everything, and a best_model was saved from it: an audit)."""
    inputs = {'im_id': np.array([[7]]), 'gt_bbox': np.array([[[0, 0, 9, 9]]]),
              'gt_class': np.array([[[0]]]), 'difficult': np.array([[[1]]])}
    metric = VOCMetric(['a'], 1)
    metric.update(inputs, _outputs([[0, 0.9, 0, 0, 9, 9]]))
    assert metric.get_results()['bbox'] == [-1.0]
    metric.log()
    assert 'the eval set has no positive object' in ppdet_log.text
