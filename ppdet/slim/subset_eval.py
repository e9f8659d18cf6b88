"""Fast evaluation for sensitivity analysis.

PaddleSlim's naive loop runs one full evaluation per parameter and ratio.  Here
the eval images are decoded and preprocessed once, optionally limited to the
first ``max_images``, the metric (and its ground truth) is built once, and - when
none of the probed convolutions lives in the backbone - the backbone features are
computed once and reused for every probe, so each probe costs only the neck, head,
post-process and metric.  A neck that names the unit of each parameter
(``neck.unit_of``, e.g. YOLOv3FPN) also keeps its units' outputs: a probe reruns only
the units downstream of the pruned conv (see ``NeckMemo``).
"""
import contextlib
import io

import paddle

from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)


def _prefix_is_unpruned(model, param_names):
    """True when every probed parameter sits outside ``model.backbone``."""
    if not (hasattr(model, 'backbone') and hasattr(model, 'forward_from_features')):
        return False
    backbone_ids = {id(p) for p in model.backbone.parameters()}
    params = model.prunable_params()
    return all(id(params[n]) not in backbone_ids for n in param_names)


class SubsetEvaluator(object):
    """``evaluator(model) -> float``: one value of the config's metric (its primary value,
    e.g. COCO AP, unless ``metric`` names another, e.g. AP50) on a fixed image subset."""

    def __init__(self, trainer, max_images=None, cache_backbone=True, param_names=(),
                 metric=None):
        from ppdet.metrics import build_metric, metric_class
        if max_images is not None and int(max_images) < 1:
            raise ValueError('max_images (--eval_images) must be >= 1, got %s: leave it unset '
                             'to score every eval image' % max_images)
        self.cfg = trainer.cfg
        self.metric = metric_class(trainer.cfg).resolve_value_name(metric)
        self.dataset, loader = trainer._loader('eval')
        # built once: loading and cleaning the ground truth took as long as a neck pass
        self._metric = build_metric(self.cfg, self.dataset)
        if hasattr(self._metric, 'compute_only'):
            self._metric.compute_only(self.metric)
        self.batches, seen = [], 0
        for batch in loader:
            self.batches.append(batch)
            seen += int(batch['image'].shape[0])
            if max_images is not None and seen >= max_images:
                break
        self.num_images = seen
        if max_images is not None and seen < len(self.dataset):
            # the images past the first max_images are left out on purpose: said here, once
            self._metric.expect_subset()
            logger.info('sensitivity: scoring the first %d of the %d eval images '
                        '(--eval_images %d)', seen, len(self.dataset), int(max_images))
        if max_images is not None and seen != int(max_images):
            # said, not silent: the file records num_images, the log says why it differs
            logger.warning('sensitivity: scoring %d eval images, not the %d asked for (%s)',
                           seen, int(max_images),
                           'the eval set has no more' if seen < int(max_images) else
                           'whole batches of EvalReader.batch_size')
        self.features = None
        model = trainer.model
        if cache_backbone and _prefix_is_unpruned(model, param_names):
            model.eval()
            with paddle.no_grad():
                self.features = [[f.detach() for f in model.backbone(b['image'])]
                                 for b in self.batches]
            logger.info('sensitivity: backbone features of %d images cached', seen)
        self.memos = self.neck_shapes = None
        neck = getattr(model, 'neck', None)
        if self.features is not None and hasattr(neck, 'unit_of'):
            from ppdet.modeling.necks.yolo_fpn import NeckMemo
            self.memos = [NeckMemo() for _ in self.batches]
            self.neck_shapes = {n: list(p.shape) for n, p in neck.named_parameters()}

    def settings(self):
        return {'max_images': self.num_images, 'metric': '%s %s' % (self.cfg.get('metric'),
                                                                     self.metric)}

    def _changed_units(self, model):
        """The neck units whose parameters differ in shape from the unpruned model's
        (pruning changes shapes; restoring gives them back)."""
        neck = model.neck
        return {neck.unit_of(n) for n, p in neck.named_parameters()
                if list(p.shape) != self.neck_shapes.get(n)}

    def __call__(self, model):
        metric = self._metric
        metric.reset()
        model.eval()
        changed = self._changed_units(model) if self.memos else None
        with paddle.no_grad():
            for i, batch in enumerate(self.batches):
                if self.memos:
                    self.memos[i].changed = changed
                    outputs = model.forward_from_features(self.features[i],
                                                          memo=self.memos[i])
                elif self.features is not None:
                    outputs = model.forward_from_features(self.features[i])
                else:
                    outputs = model(batch['image'])
                bbox, bbox_num = model.post_process(outputs, batch['im_shape'],
                                                    batch['scale_factor'])
                metric.update(batch, {'bbox': bbox.numpy(), 'bbox_num': bbox_num.numpy()})
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its table
            metric.accumulate()
        return float(metric.summary()[self.metric])
