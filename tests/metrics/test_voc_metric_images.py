"""The VOC metric says which listed images it did not evaluate, as the COCO one does
("evaluated K of N images in FILE; M skipped: ..."); through the dataset and the reader:
tests/data/test_eval_bad_annotations.py."""
import numpy as np

from ppdet.metrics import VOCMetric


def _one_image(metric, im_id):
    metric.update({'im_id': [[im_id]], 'gt_bbox': [np.array([[0, 0, 9, 9]])],
                   'gt_class': [np.array([[0]])]},
                  {'bbox': np.array([[0, 0.9, 0, 0, 9, 9]], np.float32), 'bbox_num': [1]})


def test_unseen_listed_images_are_named_with_the_count(tmp_path, ppdet_log):
    source = str(tmp_path / 'test.txt')
    metric = VOCMetric(['a'], 1, images=['JPEGImages/%d.jpg' % i for i in range(4)],
                       source=source)
    for im_id in (0, 3):
        _one_image(metric, im_id)
    metric.accumulate()
    assert metric.get_results()['bbox'] == [1.0]
    assert ('evaluated 2 of 4 images in %s; 2 skipped: JPEGImages/1.jpg, JPEGImages/2.jpg (the '
            'ground truth of skipped images is left out too' % source) in ppdet_log.text


def test_every_image_seen_or_no_image_list_says_nothing(tmp_path, ppdet_log):
    metric = VOCMetric(['a'], 1, images=['a.jpg', 'b.jpg'], source=str(tmp_path / 'l.txt'))
    _one_image(metric, 0)
    _one_image(metric, 1)
    metric.accumulate()
    metric = VOCMetric(['a'], 1)   # built without the list (a dataset of another kind)
    _one_image(metric, 5)
    metric.accumulate()
    assert metric.get_results()['bbox'] == [1.0] and 'evaluated' not in ppdet_log.text
