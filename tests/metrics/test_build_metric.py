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

    def get_image_root(self):
        return None


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
    with pytest.raises(ValueError, match="unknown metric 'WIDERFACE'.*valid metrics: COCO.*VOC"):
        build_metric({'metric': 'WIDERFACE'}, _VocDataset())


def test_a_registered_metric_is_built_by_name_and_reports_its_primary_value():
    """A new metric is a registered class, nothing more: build_metric finds it, and
    consumers read ``summary().primary`` whatever its layout."""
    from ppdet.core.workspace import register
    from ppdet.metrics import Metric, metric_names

    @register
    class HitRateMetric(Metric):
        value_names = ('Easy', 'Medium', 'Hard')

        def __init__(self, label_list):
            self.label_list = label_list
            self.reset()

        @classmethod
        def dataset_args(cls, cfg, dataset, output_eval=None):
            return {'label_list': dataset.label_list()}

        def reset(self):
            self.hits = []

        def update(self, inputs, outputs):
            self.hits.append(float(outputs))

        def accumulate(self):
            pass

        def values(self):
            n = max(len(self.hits), 1)
            return [sum(self.hits) / n, sum(self.hits) / n / 2, 0.25]

    assert 'HitRate' in metric_names()
    metric = build_metric({'metric': 'HitRate'}, _VocDataset())
    metric.update(None, 1.0)
    metric.update(None, 0.0)
    res = metric.summary()
    assert list(res) == ['Easy', 'Medium', 'Hard'] and res.primary_name == 'Easy'
    assert res.primary == 0.5 and res['Hard'] == 0.25 and res.metric == 'HitRate'
    assert HitRateMetric.resolve_value_name(None) == 'Easy'
    with pytest.raises(ValueError, match="unknown value 'AP' of the HitRateMetric"):
        HitRateMetric.resolve_value_name('AP')


def test_coco_and_voc_primary_values():
    assert COCOMetric.resolve_value_name(None) == 'AP'
    assert VOCMetric.resolve_value_name('AP') == 'mAP'  # alias
    metric = build_metric({'metric': 'VOC'}, _VocDataset())
    metric.accumulate()
    res = metric.summary()
    assert list(res) == ['mAP'] and res.primary == metric.get_results()['bbox'][0]
