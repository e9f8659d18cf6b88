"""Evaluation with bad images in the set: a metric over exactly the images that were read."""
import os

import numpy as np
import pytest

from ppdet.data import build_dataset, create_reader
from ppdet.metrics.batch_utils import image_ids, split_ground_truth
from ppdet.metrics.metrics import COCOMetric

from datagen import write_coco


def test_oracle_detector_scores_1_with_bad_images_in_the_eval_set(tmp_path):
    """The issue's constructed case: a detector that returns the ground truth of every
    image it is shown scores 1.0, even with an undecodable image and a negative-width box
    in the set (before: the neighbour of the bad image was evaluated twice, AP 0.868)."""
    root = str(tmp_path)
    images = [(i, '%d.jpg' % i, 64, 48) for i in range(1, 7)]
    anns = [(i, 1, [4 + i, 5, 20, 18]) for i in range(1, 7)]  # one class: one ranking
    anns.append((3, 1, [40, 10, -12, 20]))  # negative width: never readable
    anno = write_coco(root, images, anns, [(1, 'a'), (2, 'b')])
    with open(os.path.join(root, 'images', '4.jpg'), 'wb') as f:
        f.write(b'\xff\xd8\xff\xe0 cut to a few bytes')
    section = {'name': 'COCODataSet', 'dataset_dir': root, 'image_dir': 'images',
               'anno_path': 'annotations/instances.json', 'allow_empty': True}
    cfg = {'num_classes': 2, 'EvalDataset': section,
           'EvalReader': {'sample_transforms': [{'Decode': {}}], 'batch_size': 2}}
    dataset = build_dataset(cfg, 'EvalDataset')
    loader = create_reader(cfg, 'eval', dataset=dataset)
    metric = COCOMetric(anno, dataset.clsid2catid)
    for batch in loader:
        ids = image_ids(batch)
        # scores falling with the image id: a duplicated image's detections would rank
        # above later images' true positives and lower the precision
        rows = [np.concatenate([c.reshape(-1, 1), np.full([len(c), 1], 1. - .1 * i), b], 1)
                for i, (b, c, _) in zip(ids, split_ground_truth(batch, len(ids)))]
        metric.update(batch, {'bbox': np.concatenate(rows), 'bbox_num': [len(r) for r in rows]})
    metric.accumulate()
    assert sorted(metric.seen_ids) == [1, 2, 3, 5, 6]
    assert metric.get_results()['bbox'][0] == pytest.approx(1.0)
