"""Evaluation on a VOC set with bad annotation files: the loader says why each was dropped
and the metric says which images it did not evaluate (the VOC metric used to say neither)."""
import os

import numpy as np

from ppdet.data import build_dataset, create_reader
from ppdet.metrics import build_metric
from ppdet.metrics.batch_utils import image_ids, split_ground_truth

from datagen import write_voc

LABELS = ['a', 'b']


def _oracle_eval(root):
    """The ground truth as detections, through the eval reader and the config's metric."""
    section = {'name': 'VOCDataSet', 'dataset_dir': root, 'anno_path': 'test.txt',
               'label_list': 'label_list.txt', 'allow_empty': True}
    cfg = {'metric': 'VOC', 'num_classes': 2, 'EvalDataset': section,
           'EvalReader': {'sample_transforms': [{'Decode': {}}], 'batch_size': 2}}
    dataset = build_dataset(cfg, 'EvalDataset')
    metric = build_metric(cfg, dataset)
    metric.reset()
    for batch in create_reader(cfg, 'eval', dataset=dataset):
        ids = image_ids(batch)
        rows = [np.concatenate([c.reshape(-1, 1), np.ones([len(c), 1]), b], 1)
                for b, c, _ in split_ground_truth(batch, len(ids))]
        metric.update(batch, {'bbox': np.concatenate(rows), 'bbox_num': [len(r) for r in rows]})
    metric.accumulate()
    return metric


def test_voc_images_the_loader_dropped_are_named_by_loader_and_metric(tmp_path, ppdet_log):
    root = str(tmp_path)
    write_voc(root, [('a', 64, 48, [('a', (2, 2, 20, 20), 0)]),
                     ('b', 64, 48, [('b', (5, 5, 30, 30), 0)]),
                     ('c', 64, 48, [('a', (1, 1, 9, 9), 0)]),
                     ('d', 64, 48, [('b', (10, 10, 40, 40), 0)])], LABELS, list_name='test.txt')
    b_xml = os.path.join(root, 'Annotations', 'b.xml')
    with open(b_xml, 'w') as f:
        f.write('<annotation><object><name>b</name></object></annotation>')  # no <bndbox>
    os.remove(os.path.join(root, 'JPEGImages', 'c.jpg'))
    metric = _oracle_eval(root)
    assert metric.seen_ids == {0, 3}
    assert metric.get_results()['bbox'][0] == 1.0   # over the images that were read
    text = ppdet_log.text
    assert "%s: object 1 ('b') has no <bndbox>" % b_xml in text
    assert ('evaluated 2 of 4 images in %s; 2 skipped: JPEGImages/b.jpg, JPEGImages/c.jpg (the '
            'ground truth of skipped images is left out too; the loader\'s warnings say why)'
            % os.path.join(root, 'test.txt')) in text


def test_no_line_when_every_voc_image_is_evaluated(tmp_path, ppdet_log):
    root = str(tmp_path)
    write_voc(root, [('a', 64, 48, [('a', (2, 2, 20, 20), 0)]),
                     ('b', 64, 48, [('b', (5, 5, 30, 30), 0)])], LABELS, list_name='test.txt')
    assert _oracle_eval(root).seen_ids == {0, 1}
    assert 'evaluated' not in ppdet_log.text
