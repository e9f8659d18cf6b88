"""Detection metrics: COCO AP (pycocotools) and Pascal VOC mAP.

``build_metric(cfg, dataset)`` picks the metric named by ``cfg['metric']``; extra
arguments may come from a ``COCOMetric:`` / ``VOCMetric:`` section of the config.
"""
from ppdet.core.workspace import create

from .coco_utils import cocoapi_eval, COCO_STAT_NAMES  # noqa: F401
from .map_utils import DetectionMAP  # noqa: F401
from .metrics import COCOMetric, Metric, VOCMetric  # noqa: F401

__all__ = ['build_metric', 'COCOMetric', 'VOCMetric', 'Metric', 'cocoapi_eval',
           'DetectionMAP', 'COCO_STAT_NAMES', 'METRICS']

METRICS = ('COCO', 'VOC')


def build_metric(cfg, dataset, output_eval=None):
    """COCO: anno file from ``dataset.get_anno()``, ids from ``dataset.clsid2catid``.
    VOC: names from ``dataset.label_list()``, ``map_type`` from ``cfg`` (default 11point)."""
    name = cfg.get('metric', 'COCO')
    if name == 'COCO':
        kwargs = dict(anno_file=dataset.get_anno(), clsid2catid=dataset.clsid2catid,
                      output_eval=output_eval)
        if 'classwise' in cfg:
            kwargs['classwise'] = bool(cfg['classwise'])
        return create('COCOMetric', cfg, **kwargs)
    if name == 'VOC':
        labels = list(dataset.label_list())
        kwargs = dict(label_list=labels, class_num=len(labels))
        if 'map_type' in cfg:
            kwargs['map_type'] = cfg['map_type']
        if 'classwise' in cfg:
            kwargs['classwise'] = bool(cfg['classwise'])
        return create('VOCMetric', cfg, **kwargs)
    raise ValueError('unknown metric %r in config key "metric"; valid metrics: %s'
                     % (name, ', '.join(METRICS)))
