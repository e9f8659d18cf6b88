"""Detection metrics from the registry: COCO AP (pycocotools), Pascal VOC mAP, ...

``build_metric(cfg, dataset)`` builds the registered ``<cfg.metric>Metric`` (``metric:
COCO`` -> :class:`COCOMetric`) through its ``from_dataset``; extra arguments may come
from the metric's own config section (``COCOMetric: {bias: 1}``).  A new metric is a
registered :class:`Metric` subclass named ``<Name>Metric``, nothing more.
"""
from ppdet.core.workspace import ConfigError, did_you_mean, get_registered

from .coco_utils import cocoapi_eval, COCO_STAT_NAMES  # noqa: F401
from .map_utils import DetectionMAP  # noqa: F401
from .metrics import COCOMetric, EvalResult, Metric, VOCMetric  # noqa: F401
from .widerface import WiderFaceMetric  # noqa: F401

__all__ = ['build_metric', 'metric_class', 'metric_names', 'COCOMetric', 'VOCMetric', 'Metric',
           'EvalResult', 'cocoapi_eval', 'DetectionMAP', 'COCO_STAT_NAMES']


def metric_names():
    """Names a config's ``metric:`` may take (registered ``<Name>Metric`` classes)."""
    return sorted(name[:-len('Metric')] for name, cls in get_registered().items()
                  if isinstance(cls, type) and issubclass(cls, Metric) and
                  name.endswith('Metric') and name != 'Metric')


def metric_class(cfg):
    """The registered metric class named by ``cfg['metric']`` (default COCO)."""
    name = str(cfg.get('metric', 'COCO'))
    registered = get_registered()
    cls = registered.get(name + 'Metric')
    if not (isinstance(cls, type) and issubclass(cls, Metric)):
        names = metric_names()
        raise ConfigError('unknown metric %r in config key "metric"%s; valid metrics: %s' % (
            name, did_you_mean(name, names), ', '.join(names)))
    return cls


def build_metric(cfg, dataset, output_eval=None):
    """The config's metric for ``dataset`` (see each metric's ``from_dataset``)."""
    return metric_class(cfg).from_dataset(cfg, dataset, output_eval=output_eval)
