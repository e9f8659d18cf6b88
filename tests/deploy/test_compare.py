"""Detection matching used to compare runtimes."""
import numpy as np

from ppdet.deploy.compare import (box_iou, cosine, detection_agreement, match_batch,
                                  match_detections)


def test_box_iou_by_hand():
    iou = box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(iou, [[50 / 150., 0., 1.]])


def test_matching_ignores_order_and_padding_and_needs_same_class():
    a = np.array([[0, .9, 0, 0, 10, 10], [1, .8, 20, 20, 40, 40], [-1, 1, 0, 0, 5, 5]], 'float32')
    b = np.array([[1, .7, 21, 20, 40, 40], [0, .95, 0, 0, 10, 10]], 'float32')
    r = match_detections(a, b)
    assert r['matched'] == 2 and r['n_a'] == 2 and r['matched_fraction'] == 1.0
    np.testing.assert_allclose(r['max_score_diff'], 0.1, atol=1e-6)
    assert 0.9 < r['mean_iou'] < 1.0
    c = b.copy()
    c[1, 0] = 2                                          # wrong class: no match
    assert match_detections(a, c)['matched'] == 1


def test_matching_edge_cases():
    assert match_detections(np.zeros((0, 6)), np.zeros((0, 6)))['matched_fraction'] == 1.0
    r = match_detections([[0, .9, 0, 0, 10, 10]], np.zeros((0, 6)))
    assert r['matched_fraction'] == 0.0 and r['n_a'] == 1
    r = match_detections([[0, .9, 0, 0, 10, 10]], [[0, .9, 6, 0, 16, 10]], iou_thresh=0.5)
    assert r['matched'] == 0                             # IoU 0.25 < 0.5
    r = match_detections([[0, .9, 0, 0, 10, 10], [0, .1, 0, 0, 9, 9]],
                         [[0, .9, 0, 0, 10, 10]], score_thresh=0.5)
    assert r['matched_fraction'] == 1.0


def test_match_batch_splits_by_image():
    ref = {'bbox': np.array([[0, .9, 0, 0, 10, 10], [0, .9, 5, 5, 20, 20]], 'float32'),
           'bbox_num': np.array([1, 1], 'int32')}
    swapped = {'bbox': ref['bbox'][::-1].copy(), 'bbox_num': ref['bbox_num']}
    assert match_batch(ref, ref)['matched_fraction'] == 1.0
    assert match_batch(ref, swapped)['matched'] == 0     # right boxes, wrong images
    assert abs(cosine([1, 2, 3], [2, 4, 6]) - 1) < 1e-12


def test_agreement_counts_matches_and_refuses_an_empty_reference():
    det = {'bbox': np.array([[0, .9, 0, 0, 10, 10], [1, .8, 20, 20, 40, 40]], 'float32'),
           'bbox_num': np.array([2], 'int32')}
    moved = {'bbox': det['bbox'] + np.array([[0, 0, 0, 0, 30, 30], [0] * 6], 'float32'),
             'bbox_num': det['bbox_num']}
    same = detection_agreement([det, det], [det, det])
    assert same['matched'] == 4 and same['matched_fraction'] == 1.0 and same['agrees']
    half = detection_agreement([det], [moved])          # the class-0 box no longer overlaps
    assert half['matched'] == 1 and half['matched_fraction'] == 0.5 and not half['agrees']
    empty = {'bbox': np.zeros((0, 6), 'float32'), 'bbox_num': np.array([0], 'int32')}
    none = detection_agreement([empty], [det])
    assert not none['agrees'] and 'nothing to compare' in none['problems'][0]
    # a bound on the score change is checked only when the tolerance gives one
    rescored = {'bbox': det['bbox'] - np.array([[0, .2, 0, 0, 0, 0]] * 2, 'float32'),
                'bbox_num': det['bbox_num']}
    assert detection_agreement([det], [rescored], {'score_thresh': 0.5})['agrees']
    strict = detection_agreement([det], [rescored], {'score_thresh': 0.5, 'max_score_diff': 0.15})
    assert not strict['agrees'] and 'differs by 0.200' in strict['problems'][0]
