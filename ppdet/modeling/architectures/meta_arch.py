"""The contract between a detector family and the generic code.

Trainer, evaluation, export, pruning, quantization and distillation never look
inside a detector: they ask it.  A family subclasses :class:`BaseArch`, registers
it (``@register``) and fills in what it has.  What generic code asks for:

* ``forward(image)`` -> the raw head outputs (a list of tensors): what FLOPs
  counting, pruning, export and distillation trace.
* ``get_loss(outputs, inputs)`` -> dict of scalar losses, ``'loss'`` the total.
* ``train_fields`` / ``optional_train_fields``: the batch keys (besides ``image``)
  the loss reads; the train reader collates exactly these (glob patterns such as
  ``'reg_target*'`` are allowed for per-level targets).
* ``decode(outputs, im_shape, scale_factor)`` -> ``boxes`` [B,N,4] in original
  pixels and ``scores`` [B,C,N]: what an export without NMS returns.  Or, instead,
  ``decode_rows(...)`` -> the same with ``scores`` [B,N,C] (a row of class scores per
  box, as a dense head computes them); ``decode`` is then its transpose.
* ``post_process(outputs, im_shape, scale_factor)`` -> ``(bbox, bbox_num)`` (see
  :mod:`ppdet.modeling.post_process`); the default is ``decode`` then ``self.nms``, or
  for a family with ``decode_rows`` the rows straight into ``self.nms.nms_rows``: NMS's
  candidate bound then gathers its K best rows, and the full score tensor is never
  transposed (RetinaNet at 800: 120087 x 80 scores, two transposes, 25 ms a pass).
* ``prunable_params()`` -> OrderedDict of user-facing name -> conv weight whose
  filters may be pruned (never an output conv).
* optional ``unprunable_reasons()`` -> OrderedDict of conv weight names (state-dict keys,
  or the family's own names) -> why that conv cannot be pruned; prune.py prints the reason
  when a user names one.  The default names the output convs (``float_only_layers()``).
* ``float_only_layers()`` -> sub-layer names kept in float by quantization (the
  output convs whose values decoding reads).
* ``distill_outputs()`` -> sub-layer names whose outputs are the default
  distillation pairs (the head's outputs).
* optional ``score_logit_channels()`` -> ``[(sub-layer name, kind, channels)]``: the
  output-conv channels whose values are score logits (a higher logit, a higher score),
  ``kind`` ``'class'`` or ``'objectness'`` (a per-box factor of every class score:
  YOLOv3's objectness, FCOS's centerness).  The full-size latency benchmark sets them up
  like a trained detector's (:func:`ppdet.benchmark.full_size.init_head_like_trained`).
* optional ``box_logit_channels()`` -> ``[(sub-layer name, kind, channels)]``: the
  output-conv channels that decoding turns into boxes, ``kind`` one of
  :data:`ppdet.benchmark.full_size.BOX_SPREADS` (how decoding reads them).  The same
  benchmark gives them a trained-like spread: a deep random backbone's outputs are huge
  (YOLOv3-ResNet34 at 608: box logits with a std of 600-1000), and every decoded box became
  a point or a line on the border.
* ``check_teacher(teacher, loss)`` -> raise if ``teacher`` cannot teach this model.
* ``distill_weights`` (class attribute) -> ``{loss: weight}``, the distillation loss weight
  used when ``Distill.weight`` is unset, and ``distill_weights_reason`` why: the default is
  PaddleDetection's YOLOv3 weights (``ppdet.slim.distill_losses.DEFAULT_WEIGHTS``); a
  family whose distillation terms sit on another scale overrides both.
* optional ``fine_grained_distill_loss(outputs, teacher_outputs, obj_target)`` for a
  family-specific distillation loss, and ``backbone`` + ``forward_from_features``
  to let sensitivity analysis reuse the backbone pass.

Methods that a family does not provide raise :class:`NotDeclared` naming the
method: generic code refuses to guess.
"""
import collections

import paddle.nn as nn

__all__ = ['BaseArch', 'NotDeclared', 'declared', 'OUTPUT_CONV_REASON']

OUTPUT_CONV_REASON = ('an output conv: decoding reads its channels (box offsets, anchors x '
                      'classes), so their number is fixed')


class NotDeclared(NotImplementedError):
    """A detector does not declare something generic code needs."""


def declared(model, method):
    """The model's ``method()`` result, or raise :class:`NotDeclared` with the fix."""
    fn = getattr(model, method, None)
    if fn is None:
        raise NotDeclared(
            '%s does not declare %s(); a detector tells generic code its prunable convs, '
            'float-only layers and distillation outputs (see ppdet.modeling.architectures.'
            'meta_arch.BaseArch)' % (type(model).__name__, method))
    return fn()


class BaseArch(nn.Layer):
    """Base class of every detector architecture (see the module docstring)."""

    train_fields = ()
    optional_train_fields = ()
    # the student's Distill.weight when unset (ppdet.slim.distill.default_distill_weight)
    distill_weights = {'l2': 100.0, 'fine_grained': 1000.0}
    distill_weights_reason = "PaddleDetection's YOLOv3 distillation weights"

    def _missing(self, what):
        raise NotDeclared('%s does not implement %s (see ppdet.modeling.architectures.'
                          'meta_arch.BaseArch)' % (type(self).__name__, what))

    def forward(self, image):
        self._missing('forward(image)')

    def get_loss(self, outputs, inputs):
        self._missing('get_loss(outputs, inputs)')

    def decode(self, outputs, im_shape, scale_factor):
        if not self._has_rows():
            self._missing('decode(outputs, im_shape, scale_factor) or decode_rows(...)')
        boxes, rows = self.decode_rows(outputs, im_shape, scale_factor)
        return boxes, rows.transpose([0, 2, 1])

    def decode_rows(self, outputs, im_shape, scale_factor):
        self._missing('decode_rows(outputs, im_shape, scale_factor)')

    def _has_rows(self):
        return type(self).decode_rows is not BaseArch.decode_rows

    def post_process(self, outputs, im_shape, scale_factor):
        nms = getattr(self, 'nms', None)
        if nms is None:
            self._missing('post_process (or an nms component)')
        if self._has_rows() and hasattr(nms, 'nms_rows'):
            return nms.nms_rows(*self.decode_rows(outputs, im_shape, scale_factor))
        boxes, scores = self.decode(outputs, im_shape, scale_factor)
        return nms(boxes, scores)

    @property
    def num_classes(self):
        self._missing('num_classes')

    def prunable_params(self):
        self._missing('prunable_params()')

    def unprunable_reasons(self):
        """OrderedDict conv weight key -> why it cannot be pruned: here the output convs
        (``float_only_layers()``); a family adds its own convs' reasons."""
        out = collections.OrderedDict()
        try:
            layers = self.float_only_layers()
        except NotDeclared:
            return out
        subs = dict(self.named_sublayers())
        for name in layers:
            for pname, p in (subs[name].named_parameters() if name in subs else []):
                if len(p.shape) == 4:
                    out['%s.%s' % (name, pname)] = OUTPUT_CONV_REASON
        return out

    def float_only_layers(self):
        self._missing('float_only_layers()')

    def distill_outputs(self):
        self._missing('distill_outputs()')

    def score_logit_channels(self):
        self._missing('score_logit_channels()')

    def box_logit_channels(self):
        self._missing('box_logit_channels()')

    def check_teacher(self, teacher, loss):
        """Fail early when ``teacher`` cannot teach this model with ``loss``."""
        theirs = getattr(teacher, 'num_classes', None)
        if theirs is not None and int(theirs) != int(self.num_classes):
            raise ValueError('the teacher predicts num_classes=%d but the student num_classes=%d; '
                             'use a teacher trained on the student\'s dataset (same label list)'
                             % (theirs, self.num_classes))
        if loss == 'fine_grained' and not hasattr(self, 'fine_grained_distill_loss'):
            raise ValueError('%s has no fine-grained distillation loss: drop '
                             'use_fine_grained_loss=true (or set Distill.loss=l2) to distil its '
                             'outputs with L2' % type(self).__name__)
