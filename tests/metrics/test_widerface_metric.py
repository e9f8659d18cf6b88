"""WiderFaceMetric: the official WIDER FACE evaluation on hand-computed cases.

Notation in the comments: boxes are (x, y, w, h) as in the WIDER files; a point of the PR
curve is (precision, recall) at a score threshold; AP is the VOC2010+ area under the
right-max precision envelope, summed where recall changes.
"""
import os

import numpy as np
import pytest

from ppdet.metrics import WiderFaceMetric, build_metric
from ppdet.metrics.widerface import (evaluate_wider, image_evaluation, image_pr_info,
                                     read_wider_submission)

from wider_tree import IMAGES, face_line, write_wider, write_wider_mat

F1 = [0, 0, 9, 9]          # x1y1x2y2 (0, 0, 9, 9): 10 x 10 pixels with the +1 convention
F2 = [100, 100, 9, 9]
F3 = [200, 200, 9, 9]
FAR = [400, 400, 9, 9]     # overlaps nothing


def _im(boxes, keep=None, im_id=0, name='a'):
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    keep = list(range(len(boxes))) if keep is None else keep
    return {'im_id': im_id, 'event': '0--Parade', 'name': name, 'file': '0--Parade/%s.jpg' % name,
            'boxes': boxes, 'keep': {s: np.array(keep, np.int64) for s in
                                     ('easy', 'medium', 'hard')}}


def _dets(*rows):
    return np.array([list(box) + [score] for box, score in rows], np.float64).reshape(-1, 5)


def _ap(images, dets, subset='easy'):
    return evaluate_wider(images, dets)[0][subset]


def test_duplicate_detection_is_a_false_positive():
    # faces F1, F2; detections d1 on F1 (0.9), d2 on F1 again (0.7), d3 on F2 (0.5).
    # normalised: (s - 0.5) / 0.4 -> 1, 0.5, 0.
    # thresholds > 0.5: d1 -> (1/1, 1/2); down to 0.5 and above 0: d1, d2 -> (1/2, 1/2);
    # at 0: all -> (2/3, 2/2).  Envelope: 1 up to recall 1/2, then 2/3.
    # AP = 0.5 * 1 + 0.5 * 2/3 = 5/6.
    ims = [_im([F1, F2])]
    dets = [_dets((F1, 0.9), (F1, 0.7), (F2, 0.5))]
    assert _ap(ims, dets) == pytest.approx(5 / 6, abs=1e-12)
    # in one image the duplicate is a proposal without recall
    pred_recall, proposal = image_evaluation(np.array([[0, 0, 9, 9, 1.], [0, 0, 9, 9, .5]]),
                                             [F1], [True])
    assert pred_recall.tolist() == [1, 1] and proposal.tolist() == [True, True]


def test_scores_are_min_max_normalised_over_the_whole_set():
    # faces F1, F2; d1 false positive 3.0, d2 on F1 2.0, d3 on F2 -1.0 (logits, say).
    # normalised: (s + 1) / 4 -> 1, 0.75, 0:
    # thresholds > 0.75: d1 -> (0/1, 0); down to 0.75: d1, d2 -> (1/2, 1/2); at 0: all ->
    # (2/3, 1).  Envelope 2/3 everywhere: AP = 0.5 * 2/3 + 0.5 * 2/3 = 2/3.
    # Raw scores would give 0.25: 3.0 and 2.0 pass every threshold together (1/2, 1/2) and
    # -1.0 none.
    ims = [_im([F1, F2])]
    dets = [_dets((FAR, 3.0), (F1, 2.0), (F2, -1.0))]
    assert _ap(ims, dets) == pytest.approx(2 / 3, abs=1e-12)
    # the range is over all images: the same detections split over two images score the same
    ims2 = [_im([F1], im_id=0, name='a'), _im([F2], im_id=1, name='b')]
    dets2 = [_dets((FAR, 3.0), (F1, 2.0)), _dets((F2, -1.0))]
    assert _ap(ims2, dets2) == pytest.approx(2 / 3, abs=1e-12)


def test_faces_outside_the_subset_are_ignored():
    # faces F1 (easy), F2 (not easy), F3 (easy, never found): 2 easy faces.
    # detections: d1 on F2 (0.95), d2 on F1 (0.75), d4 on F2 again (0.55), d3 FP (0.0).
    # d1 and d4 match a face outside the subset: neither TP nor FP (no proposal).
    # points: d1 alone -> 0/0 proposals (precision undefined, recall 0); + d2 -> (1/1, 1/2);
    # + d4 -> (1/1, 1/2); + d3 -> (1/2, 1/2).  Envelope 1 up to recall 1/2: AP = 0.5.
    # (F2 as an ordinary face: 2/3; d1, d4 as false positives: 0.25.)
    ims = [_im([F1, F2, F3], keep=[0, 2])]
    dets = [_dets((F2, 0.95), (F1, 0.75), (F2, 0.55), (FAR, 0.0))]
    assert _ap(ims, dets) == pytest.approx(0.5, abs=1e-12)
    pred = np.array([[*F2, 1.0], [*F1, .8], [*F2, .6], [*FAR, 0.]])
    pred_recall, proposal = image_evaluation(pred, [F1, F2, F3], [True, False, True])
    assert pred_recall.tolist() == [0, 1, 1, 1]
    assert proposal.tolist() == [False, True, False, True]
    # per subset: with F2 in "hard" too, hard counts d1 as TP and d4 as duplicate FP:
    # 3 hard faces; points (1/1, 1/3), (2/2, 2/3), (2/3, 2/3), (2/4, 2/3): AP = 2/3
    im = _im([F1, F2, F3], keep=[0, 2])
    im['keep']['hard'] = np.array([0, 1, 2])
    aps, _ = evaluate_wider([im], dets)
    assert aps['easy'] == pytest.approx(0.5) and aps['hard'] == pytest.approx(2 / 3)


def test_tied_scores_enter_together():
    # faces F1, F2; d1 on F1 (0.9), then a false positive and d3 on F2 tied at 0.5.
    # normalised 1, 0, 0.  A threshold keeps everything down to the LAST detection scoring
    # >= it, so the tied pair always enters together: points (1/1, 1/2) and (2/3, 2/2):
    # AP = 0.5 + 0.5 * 2/3 = 5/6 whichever of the pair comes first.  (Ranking detection by
    # detection with the true positive first would give (1, 1) and AP 1.)
    ims = [_im([F1, F2])]
    fp_first = [_dets((F1, 0.9), (FAR, 0.5), (F2, 0.5))]
    tp_first = [_dets((F1, 0.9), (F2, 0.5), (FAR, 0.5))]
    assert _ap(ims, fp_first) == pytest.approx(5 / 6, abs=1e-12)
    assert _ap(ims, tp_first) == pytest.approx(5 / 6, abs=1e-12)
    info = image_pr_info([1.0, 0.0, 0.0], [True, True, True], [1, 1, 2])
    assert info.shape == (1000, 2)
    assert info[:999].tolist() == [[1, 1]] * 999 and info[999].tolist() == [3, 2]


def test_overlap_uses_the_plus_one_pixel_convention():
    # face (0, 0, 9, 9) -> x1y1x2y2 (0, 0, 9, 9): 10 x 10 = 100 pixels with the +1.
    # detection (0, 0, 9, 4) -> (0, 0, 9, 4): 10 x 5 = 50 pixels, all inside the face:
    # IoU = 50 / 100 = 0.5 >= 0.5, a match.  Without the +1: 9 x 4 / (9 x 9) = 0.44, none.
    # with a far false positive below it (0.1 -> normalised 0): points (1/1, 1/1), (1/2, 1/1)
    # AP = 1.0 (0.0 without the +1).
    ims = [_im([F1])]
    dets = [_dets(([0, 0, 9, 4], 0.9), (FAR, 0.1))]
    assert _ap(ims, dets) == pytest.approx(1.0)
    # x2 = x + w, not x + w - 1: (0, 0, 8, 4) covers 9 x 5 = 45 pixels: IoU 0.45, no match
    assert _ap(ims, [_dets(([0, 0, 8, 4], 0.9), (FAR, 0.1))]) == 0.0


def test_images_without_faces_or_detections():
    # image a: face F1; d1 on F1 (0.9), FP (0.0).  image b: no face, FP (1.0).
    # image c: face F3, no detection.
    # b has no ground truth: the official code skips it, its FP counts nowhere.  Faces: 2.
    # normalised over all three detections (min 0, max 1): d1 0.9.
    # points: threshold > 0.9: nothing from a; down to 0: (1/1, 1/2), then (1/2, 1/2).
    # AP = 0.5 * 1 = 0.5 (0.25 if b's FP counted).
    ims = [_im([F1], im_id=0, name='a'), _im(np.zeros([0, 4]), im_id=1, name='b'),
           _im([F3], im_id=2, name='c')]
    dets = [_dets((F1, 0.9), (FAR, 0.0)), _dets((FAR, 1.0)), _dets()]
    assert _ap(ims, dets) == pytest.approx(0.5, abs=1e-12)


def test_a_detection_is_compared_with_its_best_face_only():
    # faces G1 = (0, 0, 9, 9) and G2 = (2, 0, 9, 9) overlap (IoU 80/120 = 0.67).
    # d1 = G1 exactly (0.9) recalls G1; d2 = (1, 0, 9, 9) (0.8): IoU with G1 90/110 = 0.818,
    # with G2 90/110 = 0.818 -> the first maximum, G1, already taken: a false positive
    # although G2 would match.  FP at 0.0 for the range.
    # points: (1/1, 1/2), (1/2, 1/2), (1/3, 1/2): AP = 0.5.
    ims = [_im([[0, 0, 9, 9], [2, 0, 9, 9]])]
    dets = [_dets(([0, 0, 9, 9], 0.9), ([1, 0, 9, 9], 0.8), (FAR, 0.0))]
    assert _ap(ims, dets) == pytest.approx(0.5, abs=1e-12)


def test_equal_scores_everywhere_count_as_one(ppdet_log):
    # the official norm_score divides by zero here; every detection counts at score 1:
    # one TP and one FP for one face: point (1/2, 1/1): AP = 0.5
    ims = [_im([F1])]
    assert _ap(ims, [_dets((F1, 0.7), (FAR, 0.7))]) == pytest.approx(0.5)
    assert any('same score' in m for m in ppdet_log.messages)


def _batch(im_ids, per_image_rows, pad_to=None):
    """A trainer-style eval batch: bbox rows (class, score, x1, y1, x2, y2) concatenated,
    bbox_num per image, padding rows with class -1."""
    rows = [np.asarray(r, np.float32).reshape(-1, 6) for r in per_image_rows]
    bbox = np.concatenate(rows, 0) if rows else np.zeros([0, 6], np.float32)
    nums = [len(r) for r in rows]
    if pad_to and len(bbox) < pad_to:
        bbox = np.concatenate([bbox, -np.ones([pad_to - len(bbox), 6], np.float32)], 0)
    inputs = {'im_id': np.array(im_ids, np.int64).reshape(-1, 1)}
    return inputs, {'bbox': bbox, 'bbox_num': np.array(nums, np.int32)}


def test_update_takes_trainer_batches_and_writes_the_submission(tmp_path):
    # the ignored-faces case above through update(): same AP 0.5 (easy), 2/3 (hard)
    im = _im([F1, F2, F3], keep=[0, 2], im_id=7, name='a')
    im['keep']['hard'] = np.array([0, 1, 2])
    other = _im([], im_id=9, name='b')
    out = str(tmp_path / 'sub')
    metric = WiderFaceMetric({'images': [im, other], 'official': True, 'source': 'test'},
                             output_eval=out)

    def xyxy(b):
        return [b[0], b[1], b[0] + b[2], b[1] + b[3]]
    metric.update(*_batch([7, 9], [[[0, 0.95] + xyxy(F2), [0, 0.75] + xyxy(F1)], []]))
    metric.update(*_batch([7], [[[0, 0.55] + xyxy(F2), [0, 0.0] + xyxy(FAR)]], pad_to=4))
    metric.accumulate()
    res = metric.summary()
    assert list(res) == ['Easy', 'Medium', 'Hard'] and res.primary_name == 'Easy'
    assert res.primary == pytest.approx(0.5) and res['Hard'] == pytest.approx(2 / 3)
    assert WiderFaceMetric.resolve_value_name('AP') == 'Easy'
    # official submission layout: <out>/<event>/<name>.txt
    with open(os.path.join(out, '0--Parade', 'a.txt')) as f:
        lines = f.read().splitlines()
    assert lines[0] == '0--Parade/a.jpg' and lines[1] == '4'
    assert [float(v) for v in lines[2].split()] == pytest.approx([100, 100, 9, 9, 0.95])
    with open(os.path.join(out, '0--Parade', 'b.txt')) as f:
        assert f.read().splitlines() == ['0--Parade/b.jpg', '0']
    # evaluating the written files gives the same numbers
    dets = read_wider_submission(out, [im, other])
    aps, _ = evaluate_wider([im, other], dets)
    assert [aps[s] for s in ('easy', 'medium', 'hard')] == pytest.approx(metric.values())


def test_update_refuses_unknown_images_and_other_classes():
    metric = WiderFaceMetric([_im([F1], im_id=0)])
    with pytest.raises(ValueError, match='im_id 3 is not in the WIDER FACE ground truth'):
        metric.update(*_batch([3], [[[0, 0.9, 0, 0, 9, 9]]]))
    with pytest.raises(ValueError, match=r'class ids \[0, 2\]: set num_classes: 1'):
        metric.update(*_batch([0], [[[0, 0.9, 0, 0, 9, 9], [2, 0.8, 0, 0, 9, 9]]]))


def test_subset_run_evaluates_the_images_seen(ppdet_log):
    # images a (face F1, found) and b (face F2, never passed to update): AP over a only = 1
    metric = WiderFaceMetric([_im([F1], im_id=0, name='a'), _im([F2], im_id=1, name='b')])
    metric.update(*_batch([0], [[[0, 0.9, 0, 0, 9, 9], [0, 0.1, 400, 400, 409, 409]]]))
    assert metric.summary().primary == pytest.approx(1.0)
    assert any('1 of 2 ground-truth images were not evaluated' in m for m in ppdet_log.messages)


def test_metric_config_builds_from_a_wider_dataset(tmp_path):
    """metric: WiderFace builds through build_metric from a WIDERFaceDataSet; an oracle
    (the ground-truth boxes as detections, falling scores) scores 1 on the official subsets."""
    from ppdet.data import build_dataset
    root = str(tmp_path)
    anno = write_wider(root, [
        ('0--Parade/a.jpg', [face_line(1, 1, 10, 10), face_line(20, 1, 10, 10)]),
        ('1--Handshaking/c.jpg', [face_line(3, 3, 9, 9), face_line(30, 3, 9, 9, invalid=1)])])
    write_wider_mat(root, [('0--Parade', [('a', [[1, 1, 10, 10], [20, 1, 10, 10]])]),
                           ('1--Handshaking', [('c', [[3, 3, 9, 9], [30, 3, 9, 9]])])],
                    {'easy': [[[1]], [[1]]], 'medium': [[[1, 2]], [[1]]],
                     'hard': [[[1, 2]], [[1, 2]]]})
    cfg = {'metric': 'WiderFace', 'num_classes': 1, 'EvalDataset': {
        'name': 'WIDERFaceDataSet', 'dataset_dir': root, 'image_dir': IMAGES % 'val',
        'anno_path': anno, 'allow_empty': True}}
    dataset = build_dataset(cfg, 'EvalDataset')
    metric = build_metric(cfg, dataset, output_eval=str(tmp_path / 'out'))
    assert isinstance(metric, WiderFaceMetric) and metric.official
    assert metric.output_eval == str(tmp_path / 'out')
    score = 1.0
    for rec in dataset.roidbs:
        rows = []
        for b in rec['gt_bbox']:
            rows.append([0, score] + list(b))
            score -= 0.1
        metric.update(*_batch([int(rec['im_id'][0])], [rows]))
    metric.accumulate()
    assert metric.values() == pytest.approx([1.0, 1.0, 1.0])
    assert os.path.isfile(str(tmp_path / 'out' / '1--Handshaking' / 'c.txt'))
    with pytest.raises(ValueError, match='metric: WiderFace needs a WIDERFaceDataSet'):
        build_metric({'metric': 'WiderFace'}, object())


def test_pr_info_follows_the_per_threshold_definition():
    # random sorted scores with ties and random proposal / recall columns: the vectorised
    # image_pr_info equals evaluation.m's loop written literally (last index >= threshold)
    rng = np.random.RandomState(0)
    for _ in range(20):
        k = rng.randint(1, 12)
        scores = np.sort(np.round(rng.rand(k), 2))[::-1]
        proposal = rng.rand(k) > 0.3
        pred_recall = np.cumsum(rng.rand(k) > 0.5)
        want = np.zeros([50, 2])
        for t in range(1, 51):
            above = np.nonzero(scores >= 1 - t / 50)[0]
            if len(above):
                r = above[-1]
                want[t - 1] = [proposal[:r + 1].sum(), pred_recall[r]]
        np.testing.assert_array_equal(image_pr_info(scores, proposal, pred_recall, 50), want)


def test_eval_reader_batches_feed_the_metric(tmp_path):
    """The eval DataLoader's batches (im_id, ground truth in original pixels) through
    update(): an oracle returning each batch's boxes scores 1 on every subset."""
    from ppdet.data import build_dataset, create_reader
    root = str(tmp_path)
    anno = write_wider(root, [
        ('0--Parade/a.jpg', [face_line(1, 1, 10, 10), face_line(20, 1, 10, 10)]),
        ('0--Parade/b.jpg', []),
        ('1--Handshaking/c.jpg', [face_line(3, 3, 9, 9), face_line(30, 3, 9, 9, invalid=1)])],
        size=(64, 48))
    cfg = {'metric': 'WiderFace', 'num_classes': 1, 'EvalDataset': {
        'name': 'WIDERFaceDataSet', 'dataset_dir': root, 'image_dir': IMAGES % 'val',
        'anno_path': anno, 'allow_empty': True},
        'EvalReader': {'sample_transforms': [{'Decode': {}}, {'Resize': {
            'target_size': [32, 32], 'keep_ratio': False}}, {'Permute': {}}], 'batch_size': 2}}
    dataset = build_dataset(cfg, 'EvalDataset')
    metric = build_metric(cfg, dataset)
    assert not metric.official
    score = 1.0
    for batch in create_reader(cfg, 'eval', dataset=dataset, num_workers=0):
        gt = batch['gt_bbox'].numpy()
        rows = []
        for i, n in enumerate(batch['gt_num'].numpy().tolist()):
            rows.append([[0, score - 0.1 * j] + gt[i, j].tolist() for j in range(n)])
            score -= 0.3
        metric.update({'im_id': batch['im_id']}, {
            'bbox': np.concatenate([np.reshape(r, (-1, 6)) for r in rows], 0),
            'bbox_num': np.array([len(r) for r in rows], np.int32)})
    metric.accumulate()
    assert sorted(metric.detections) == [0, 1, 2]
    assert metric.values() == pytest.approx([1.0, 1.0, 1.0])


def test_image_evaluation_follows_the_loop_of_evaluation_m():
    # random faces, detections around them and random subsets: the closed form equals
    # evaluation.m's loop written literally (best face by +1 overlap, first on a tie)
    rng = np.random.RandomState(1)
    for _ in range(50):
        m, k = rng.randint(1, 6), rng.randint(1, 12)
        gt = np.c_[rng.randint(0, 30, (m, 2)), rng.randint(3, 12, (m, 2))].astype(float)
        j = rng.randint(0, m, k)
        pred = np.c_[gt[j, :2] + rng.randint(-3, 4, (k, 2)), gt[j, 2:] + rng.randint(-2, 3, (k, 2)),
                     np.sort(rng.rand(k))[::-1]]
        keep = rng.rand(m) > 0.4
        recall_list, want_recall, want_prop = np.zeros(m), [], []
        for h in range(k):
            ov = []
            for g in gt:
                iw = min(g[0] + g[2], pred[h, 0] + pred[h, 2]) - max(g[0], pred[h, 0]) + 1
                ih = min(g[1] + g[3], pred[h, 1] + pred[h, 3]) - max(g[1], pred[h, 1]) + 1
                inter = iw * ih
                union = (g[2] + 1) * (g[3] + 1) + (pred[h, 2] + 1) * (pred[h, 3] + 1) - inter
                ov.append(0.0 if iw <= 0 or ih <= 0 else inter / union)
            idx = int(np.argmax(ov))
            prop = True
            if ov[idx] >= 0.5:
                if not keep[idx]:
                    recall_list[idx], prop = -1, False
                elif recall_list[idx] == 0:
                    recall_list[idx] = 1
            want_recall.append(int((recall_list == 1).sum()))
            want_prop.append(prop)
        pred_recall, proposal = image_evaluation(pred, gt, keep)
        assert pred_recall.tolist() == want_recall and proposal.tolist() == want_prop


def test_a_subset_without_faces_scores_minus_one(ppdet_log):
    """No face to find: AP -1 (nothing to score, as COCOeval says), not 0: an eval set
    without faces gave 0 and a best_model was saved from it (an audit)."""
    ims = [_im(np.zeros([0, 4]), im_id=0, name='a'), _im([F1], keep=[], im_id=1, name='b')]
    aps, _ = evaluate_wider(ims, [_dets((FAR, 0.9)), _dets((F1, 0.8))], subsets=('easy',))
    assert aps == {'easy': -1.0}
    assert 'no face of the easy subset among the evaluated images; its AP is -1' in \
        ppdet_log.text
