import numpy as np

from ppdet.data.transform import BatchRandomResize, BboxXYXY2XYWH, NormalizeBox, PadBox


def sample(h, w, boxes):
    return {'image': np.zeros((h, w, 3), np.float32), 'im_shape': np.array([h, w], np.float32),
            'gt_bbox': np.array(boxes, np.float32).reshape(-1, 4),
            'gt_class': np.arange(len(boxes), dtype=np.int32)[:, None]}


def test_batch_random_resize_one_size_per_batch():
    np.random.seed(0)
    sizes = set()
    for _ in range(10):
        batch = BatchRandomResize([32, 48, 64], keep_ratio=False, random_size=True,
                                  random_interp=True)([sample(50, 80, [[0, 0, 40, 25]]),
                                                       sample(70, 30, [[0, 0, 30, 70]])])
        shapes = {s['image'].shape for s in batch}
        assert len(shapes) == 1
        size = shapes.pop()[0]
        sizes.add(size)
        np.testing.assert_allclose(batch[0]['gt_bbox'], [[0, 0, size / 2., size / 2.]])
        np.testing.assert_allclose(batch[1]['gt_bbox'], [[0, 0, size, size]])
    assert sizes == {32, 48, 64}


def test_normalize_pad_and_xywh():
    s = sample(50, 100, [[10, 5, 30, 25], [0, 0, 100, 50], [50, 10, 60, 30]])
    s = NormalizeBox()(s)
    np.testing.assert_allclose(s['gt_bbox'][0], [0.1, 0.1, 0.3, 0.5])
    s = PadBox(num_max_boxes=5)(s)
    assert s['gt_bbox'].shape == (5, 4) and s['gt_class'].shape == (5,)
    assert s['gt_class'].dtype == np.int32 and s['gt_class'].tolist() == [0, 1, 2, 0, 0]
    assert s['gt_score'].tolist() == [1, 1, 1, 0, 0]
    assert np.all(s['gt_bbox'][3:] == 0)
    s = BboxXYXY2XYWH()(s)
    np.testing.assert_allclose(s['gt_bbox'][0], [0.2, 0.3, 0.2, 0.4], rtol=1e-6)
    np.testing.assert_allclose(s['gt_bbox'][1], [0.5, 0.5, 1.0, 1.0])
    assert np.all(s['gt_bbox'][3:] == 0)


def test_pad_box_truncates():
    s = PadBox(num_max_boxes=2)(sample(10, 10, [[0, 0, 1, 1]] * 3))
    assert s['gt_bbox'].shape == (2, 4) and s['num_boxes_truncated'] == 1


def test_bad_sizes_fail_when_built():
    import pytest
    with pytest.raises(ValueError, match=r"target_size entry \[1, 2, 3\]"):
        BatchRandomResize([32, [1, 2, 3]], keep_ratio=False)
    s = BatchRandomResize([[40]], keep_ratio=False)([sample(10, 10, [[0, 0, 5, 5]])])[0]
    assert s['image'].shape == (40, 40, 3)  # [s] means a square


def test_padbox_says_when_it_drops_boxes(ppdet_log, monkeypatch):
    """More boxes than num_max_boxes were dropped without a word (an audit: 202 boxes, 30
    trained on); said once per process, with the file and how to raise the limit."""
    import ppdet.data.transform.batch_operators as ops
    monkeypatch.setattr(ops, '_TRUNCATION_SAID', [])
    s = sample(10, 10, [[0, 0, 1, 1]] * 3)
    s['im_file'] = 'crowd.jpg'
    PadBox(num_max_boxes=3)(dict(s))
    assert 'PadBox keeps' not in ppdet_log.text             # exactly the limit: nothing lost
    PadBox(num_max_boxes=2)(dict(s))
    PadBox(num_max_boxes=2)(dict(s))
    assert ppdet_log.text.count('crowd.jpg has 3 boxes and PadBox keeps 2 (num_max_boxes)') == 1
    assert 'raise num_max_boxes of PadBox' in ppdet_log.text
