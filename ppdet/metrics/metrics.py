"""Eval-loop metrics: reset() / update(inputs, outputs) / accumulate() / log() / summary().

Every metric is a registered component; ``metric: COCO`` in a config names
``COCOMetric`` (see :func:`ppdet.metrics.build_metric`).  Each declares the names of
its summary values, the first being its *primary* value (COCO: AP; VOC: mAP), and
``summary()`` returns them as an :class:`EvalResult`: consumers (trainer, pipeline,
sensitivity analysis, ``prune.py --eval``) read ``result.primary`` and never index
into a metric-specific layout.  ``get_results()`` keeps PaddleDetection's
``{'bbox': [...]}``.  See :mod:`ppdet.metrics.batch_utils` for the batch layouts.
"""
import collections
import os

from ppdet.core.workspace import create, register
from ppdet.utils.logger import setup_logger

from .batch_utils import image_ids, split_detections, split_ground_truth
from .coco_utils import (COCO_STAT_NAMES, classwise_table, detections_to_coco, evaluate_coco,
                         format_coco_stats, load_coco_gt, skipped_images_summary,
                         write_detections_json)
from .map_utils import DetectionMAP, MAP_TYPES

logger = setup_logger(__name__)

__all__ = ['Metric', 'COCOMetric', 'VOCMetric', 'EvalResult']

# subset warnings already given: sensitivity analysis evaluates the same subset hundreds of
# times, and one line per probe would bury its progress bar
_SUBSET_WARNED = set()


class EvalResult(collections.OrderedDict):
    """Named values of one evaluation; ``primary`` is the metric's headline value."""

    def __init__(self, values, primary_name, metric):
        super().__init__(values)
        if primary_name not in self:
            raise ValueError('%s has no value %r' % (metric, primary_name))
        self.primary_name = primary_name
        self.metric = metric

    @property
    def primary(self):
        return float(self[self.primary_name])

    def __repr__(self):
        return '%s(%s)' % (self.metric, ', '.join('%s=%.4f' % kv for kv in self.items()))


class Metric(object):
    """Base of the registered metrics.

    Class attributes: ``value_names`` (summary value names, primary first) and
    ``aliases`` (other accepted names, e.g. ``AP`` for VOC's mAP).
    """
    value_names = ()
    aliases = {}
    # True when the caller scores a chosen part of the set on purpose (sensitivity analysis
    # on its first --eval_images images): the images left out are then not warned about
    subset_expected = False

    def expect_subset(self):
        """The caller evaluates a subset of the set on purpose: no "N skipped" warning."""
        self.subset_expected = True

    @classmethod
    def dataset_args(cls, cfg, dataset, output_eval=None):
        """Constructor arguments that come from ``dataset`` (annotations, label list)."""
        raise NotImplementedError

    @classmethod
    def from_dataset(cls, cfg, dataset, output_eval=None):
        """The metric for ``dataset``: its :meth:`dataset_args`, the top-level
        ``classwise`` key, then the metric's own config section."""
        kwargs = cls.dataset_args(cfg, dataset, output_eval)
        if 'classwise' in cfg:
            kwargs['classwise'] = bool(cfg['classwise'])
        return create(cls.__name__, cfg, **kwargs)

    @classmethod
    def resolve_value_name(cls, name):
        """``name`` (or an alias) as one of :attr:`value_names`; None gives the primary."""
        if name is None:
            return cls.value_names[0]
        name = cls.aliases.get(name, name)
        if name not in cls.value_names:
            raise ValueError('unknown value %r of the %s metric (choose from %s)' % (
                name, cls.__name__, ', '.join(cls.value_names)))
        return name

    def values(self):
        """The summary values in :attr:`value_names` order (after accumulate)."""
        raise NotImplementedError

    def summary(self):
        vals = [float(v) for v in self.values()]
        return EvalResult(zip(self.value_names, vals), self.value_names[0],
                          type(self).__name__[:-len('Metric')] or type(self).__name__)

    def reset(self):
        raise NotImplementedError

    def update(self, inputs, outputs):
        raise NotImplementedError

    def accumulate(self):
        raise NotImplementedError

    def log(self):
        raise NotImplementedError

    def get_results(self):
        raise NotImplementedError


@register
class COCOMetric(Metric):
    """COCO box AP through pycocotools.

    Args:
        anno_file: COCO ground-truth json.
        clsid2catid: contiguous class id (model output) -> COCO category id.
        output_eval: directory for ``bbox.json`` (written atomically), or None.
        classwise: also compute and log per-category AP.
        bias: added to w and h when converting x1y1x2y2 to COCO xywh (see coco_utils).
        image_dir: the images of ``anno_file``: a ground-truth box outside an image's
            annotated size is kept when the file decodes to a size it lies in (an
            EXIF-rotated JPEG annotated with its stored size), as the reader keeps it
            (see :func:`~ppdet.metrics.coco_utils.clean_coco_gt`).
    """

    value_names = tuple(COCO_STAT_NAMES)

    def __init__(self, anno_file, clsid2catid, output_eval=None, classwise=False, bias=0,
                 image_dir=None):
        self.anno_file = anno_file
        self.coco_gt = load_coco_gt(anno_file, image_dir)
        self.clsid2catid = dict(clsid2catid)
        self.output_eval = output_eval
        self.classwise = classwise
        self.bias = bias
        self.all_areas_only = False
        self.reset()

    def compute_only(self, value_name):
        """Skip the work that ``value_name`` does not need (sensitivity probes read one
        value): without a small / medium / large value, match in the 'all' area only."""
        self.all_areas_only = value_name not in ('APs', 'APm', 'APl', 'ARs', 'ARm', 'ARl')

    def reset(self):
        self.detections = []
        self.seen_ids = set()
        self.stats = None
        self.per_class = None

    def update(self, inputs, outputs):
        ids = image_ids(inputs)
        for im_id, rows in zip(ids, split_detections(outputs, len(ids))):
            self.seen_ids.add(im_id)
            self.detections.extend(detections_to_coco(rows, im_id, self.clsid2catid, self.bias))

    def _eval_img_ids(self):
        all_ids = set(self.coco_gt.getImgIds())
        unknown = self.seen_ids - all_ids
        if unknown:
            raise ValueError('im_id %s not in %s: the eval dataset and anno_file disagree'
                             % (sorted(unknown)[:5], self.anno_file))
        if self.seen_ids and self.seen_ids != all_ids:
            key = (self.anno_file, len(self.seen_ids))
            if key not in _SUBSET_WARNED and not self.subset_expected:
                _SUBSET_WARNED.add(key)
                from .coco_utils import not_evaluated_summary
                logger.warning(not_evaluated_summary(self.coco_gt, self.seen_ids,
                                                     self.anno_file))
            return sorted(self.seen_ids)
        return None

    def accumulate(self):
        if self.output_eval:
            path = os.path.join(self.output_eval, 'bbox.json')
            write_detections_json(path, self.detections)
            logger.info('wrote %d detections to %s', len(self.detections), path)
        self.stats, self.per_class = evaluate_coco(
            self.coco_gt, self.detections, style='bbox', img_ids=self._eval_img_ids(),
            classwise=self.classwise, all_areas_only=self.all_areas_only)

    def log(self):
        if self.stats is None:
            logger.warning('COCOMetric.log() before accumulate(): nothing to show')
            return
        logger.info(format_coco_stats(self.stats))
        if self.per_class is not None:
            logger.info('per-class bbox AP:\n%s', classwise_table(self.per_class))

    @classmethod
    def dataset_args(cls, cfg, dataset, output_eval=None):
        """Annotations from ``dataset.get_anno()``, ids from ``dataset.clsid2catid``, the
        images' directory from ``dataset_dir`` / ``image_dir``."""
        return dict(anno_file=dataset.get_anno(), clsid2catid=dataset.clsid2catid,
                    output_eval=output_eval,
                    image_dir=dataset.get_image_root())

    def values(self):
        if self.stats is None:
            self.accumulate()
        return list(self.stats)

    def get_results(self):
        return {'bbox': self.values()}


@register
class VOCMetric(Metric):
    """Pascal VOC mAP (see :mod:`ppdet.metrics.map_utils` for the matching rules).

    Ground truth comes from the batch: ``gt_bbox`` (original-image pixels, x1y1x2y2),
    ``gt_class`` and optionally ``difficult``.
    """

    value_names = ('mAP',)
    aliases = {'AP': 'mAP'}

    def __init__(self, label_list, class_num, overlap_thresh=0.5, map_type='11point',
                 is_bbox_normalized=False, evaluate_difficult=False, classwise=False,
                 images=None, source=None):
        if map_type not in MAP_TYPES:
            raise ValueError('unknown map_type %r; use one of %s' % (
                map_type, ', '.join(sorted(MAP_TYPES))))
        self.label_list = list(label_list)
        if len(self.label_list) != int(class_num):
            raise ValueError('label_list has %d names but class_num is %d' % (
                len(self.label_list), class_num))
        self.classwise = classwise
        # every image of the set by im_id (VOCDataSet.listed_images) and the file listing
        # them: accumulate() names the images that were not evaluated, as COCOMetric does
        self.images = dict(enumerate(images)) if images is not None else None
        self.source = source
        self.detection_map = DetectionMAP(
            class_num=class_num, overlap_thresh=overlap_thresh, map_type=map_type,
            is_bbox_normalized=is_bbox_normalized, evaluate_difficult=evaluate_difficult)
        self.reset()

    def reset(self):
        self.detection_map.reset()
        self.mAP = None
        self.seen_ids = set()

    def update(self, inputs, outputs):
        ids = image_ids(inputs)
        self.seen_ids.update(ids)
        dets = split_detections(outputs, len(ids))
        gts = split_ground_truth(inputs, len(ids))
        for rows, (boxes, classes, difficult) in zip(dets, gts):
            self.detection_map.update(rows, boxes, classes, difficult)

    def accumulate(self):
        if self.images is not None and self.seen_ids:
            key = (self.source, len(self.seen_ids))
            text = skipped_images_summary(self.images, self.seen_ids, self.source)
            if text and key not in _SUBSET_WARNED and not self.subset_expected:
                _SUBSET_WARNED.add(key)
                logger.warning(text)
        self.mAP = self.detection_map.accumulate()

    def per_class_ap(self):
        """[(label, AP or None)] — None for a class without any positive."""
        if self.mAP is None:
            self.accumulate()
        return list(zip(self.label_list, self.detection_map.class_aps))

    def log(self):
        if self.mAP is None:
            logger.warning('VOCMetric.log() before accumulate(): nothing to show')
            return
        if self.mAP < 0:
            logger.warning('mAP(%.2f, %s) = -1: the eval set has no positive object (none, or '
                           'every one marked difficult), so there is nothing to score',
                           self.detection_map.overlap_thresh, self.detection_map.map_type)
            return
        logger.info('mAP(%.2f, %s) = %.2f%%', self.detection_map.overlap_thresh,
                    self.detection_map.map_type, self.mAP * 100)
        if self.classwise:
            logger.info('per-class AP:\n%s', classwise_table(self.per_class_ap()))

    @classmethod
    def dataset_args(cls, cfg, dataset, output_eval=None):
        """Names from ``dataset.label_list()``, the listed images from ``listed_images``
        (VOCDataSet); ``map_type`` from ``cfg`` (default 11point)."""
        labels = list(dataset.label_list())
        kwargs = dict(label_list=labels, class_num=len(labels))
        if getattr(dataset, 'listed_images', None) is not None:
            kwargs.update(images=dataset.listed_images, source=dataset.get_anno())
        if 'map_type' in cfg:
            kwargs['map_type'] = cfg['map_type']
        return kwargs

    def values(self):
        if self.mAP is None:
            self.accumulate()
        return [self.mAP]

    def get_results(self):
        return {'bbox': self.values()}
