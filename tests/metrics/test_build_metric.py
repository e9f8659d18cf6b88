import json

import pytest

from ppdet.core.workspace import get_registered
from ppdet.metrics import COCOMetric, VOCMetric, build_metric


class _CocoDataset(object):
    def __init__(self, anno):
        self.anno = anno
        self.clsid2catid = {0: 4}
        self.num_classes = 1

    def get_anno(self):
        return self.anno


class _VocDataset(object):
    num_classes = 2

    def label_list(self):
        return ['cat', 'dog']


def test_registered():
    assert get_registered('COCOMetric') is COCOMetric
    assert get_registered('VOCMetric') is VOCMetric


def test_build_coco(tmp_path):
    anno = tmp_path / 'gt.json'
    anno.write_text(json.dumps({'images': [{'id': 1}], 'annotations': [],
                                'categories': [{'id': 4, 'name': 'x'}]}))
    metric = build_metric({'metric': 'COCO', 'classwise': True}, _CocoDataset(str(anno)),
                          output_eval=str(tmp_path / 'out'))
    assert isinstance(metric, COCOMetric)
    assert metric.clsid2catid == {0: 4} and metric.classwise
    assert metric.output_eval == str(tmp_path / 'out')


def test_build_voc():
    metric = build_metric({'metric': 'VOC'}, _VocDataset())
    assert isinstance(metric, VOCMetric)
    assert metric.label_list == ['cat', 'dog']
    assert metric.detection_map.map_type == '11point'
    metric = build_metric({'metric': 'VOC', 'map_type': 'area',
                           'VOCMetric': {'overlap_thresh': 0.7}}, _VocDataset())
    assert metric.detection_map.map_type == 'integral'
    assert metric.detection_map.overlap_thresh == 0.7


def test_unknown_metric_lists_valid_ones():
    with pytest.raises(ValueError, match='COCO, VOC'):
        build_metric({'metric': 'WIDERFACE'}, _VocDataset())
