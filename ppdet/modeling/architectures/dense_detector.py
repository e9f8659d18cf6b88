"""What RetinaNet and FCOS share: backbone -> neck -> a dense head on every level, decoded to
original pixels, multi-class NMS; the declarations generic code reads (prunable neck and tower
convs, the fine-grained distillation of dense heads and its teacher check).  A family
subclass names its head's output convs and distillation outputs and where the head keeps its
strides (:meth:`DenseDetector.head_strides`)."""
import collections

import paddle

from ppdet.modeling.architectures.meta_arch import BaseArch
from ppdet.modeling.dense_targets import to_original_pixels
from ppdet.modeling.norms import UNPRUNABLE_NORMS, norm_blocks_pruning

__all__ = ['DenseDetector', 'dense_prunable_params', 'dense_unprunable_reasons',
           'check_same_locations']


def dense_prunable_params(model, towers):
    """OrderedDict state-dict key -> conv weight: the neck's declared convs (its
    ``prunable_convs()``, one per channel group; none if it declares none) and the convs of
    the head ``towers`` (shared by every level; not those before GroupNorm / EvoNorm-S0,
    which PaddleSlim 2.6 cannot prune: its dependency graph has no rule for group_norm; and
    not separable towers (EfficientDet-style), whose depthwise convs pruning was not tried on)."""
    out = collections.OrderedDict()
    neck_convs = getattr(model.neck, 'prunable_convs', None)
    for name, conv in (neck_convs() if neck_convs else {}).items():
        out['neck.%s.weight' % name] = conv.weight
    for t in towers:
        tower = getattr(model.head, t)
        for k, conv in enumerate(tower.convs):
            if _tower_conv_reason(tower, k) is None:
                out['head.%s.convs.%d.weight' % (t, k)] = conv.weight
    return out


def _tower_conv_reason(tower, k):
    """None where conv ``k`` of ``tower`` may be pruned, else why not (the one rule both
    :func:`dense_prunable_params` and :func:`dense_unprunable_reasons` read)."""
    if getattr(tower, 'separable', False):
        return ('a conv of a separable tower (EfficientDet-style): pruning its '
                'depthwise-separable convs is not supported')
    norms = tower.norms[k] if len(tower.norms) else []
    blocking = [n for n in norms if isinstance(n, UNPRUNABLE_NORMS)]
    return norm_blocks_pruning(blocking[0]) if blocking else None


def dense_unprunable_reasons(model, towers):
    """OrderedDict state-dict key -> why, for the neck and tower convs that
    :func:`dense_prunable_params` leaves out (a neck says why through its
    ``unprunable_convs()``, when it has one)."""
    out = collections.OrderedDict()
    neck_reasons = getattr(model.neck, 'unprunable_convs', None)
    out.update(neck_reasons('neck.') if neck_reasons else {})
    for t in towers:
        tower = getattr(model.head, t)
        for k in range(len(tower.convs)):
            why = _tower_conv_reason(tower, k)
            if why is None:
                continue
            if getattr(tower, 'separable', False):
                out['head.%s.dw_convs.%d.weight' % (t, k)] = why
            out['head.%s.convs.%d.weight' % (t, k)] = why
    return out


def _locations(model):
    head = model.head
    gen = getattr(head, 'anchor_generator', None)
    return (type(model).__name__, list(getattr(model.neck, 'out_strides', [])),
            getattr(head, 'strides', None),
            vars(gen) if gen is not None else None)


def check_same_locations(student, teacher):
    """Fine-grained distillation compares outputs location by location: the teacher must be
    the same family with the same levels and anchors."""
    mine, theirs = _locations(student), _locations(teacher)
    if mine != theirs:
        raise ValueError('fine-grained distillation compares the head outputs location by '
                         'location, but the student has (family, strides, head strides, '
                         'anchors) %s and the teacher %s; give the teacher the same neck levels '
                         'and anchors (or use the l2 loss)' % (mine, theirs))



class DenseDetector(BaseArch):
    __inject__ = ['backbone', 'neck', 'head', 'nms']
    train_fields = ('gt_bbox', 'gt_class')
    distill_weights = {'l2': 1.0, 'fine_grained': 1.0}
    distill_weights_reason = (
        "the dense-head terms are normalised like the detection loss, so 1 puts them on its "
        "scale (YOLOv3's weights swamp it: FCOS fine-grained at 1000 was 290 against a "
        "detection loss of 1.7, AP 0.0085 against 0.0202 at 1; RetinaNet L2 at 100, 47 "
        "against 0.84; the dense pipeline distils at 1)")

    def __init__(self, backbone, neck, head, nms):
        super().__init__()
        self.backbone = backbone
        neck.build_layers(backbone.out_channels)
        self.neck = neck
        strides = getattr(neck, 'out_strides', None)
        want, where = self.head_strides(head)
        if strides is not None and list(strides) != list(want):
            raise ValueError('the neck gives strides %s but %s is %s; make them equal' % (
                list(strides), where, list(want)))
        head.build_layers(neck.out_channels)
        self.head = head
        self.nms = nms

    @staticmethod
    def head_strides(head):
        """-> (the strides the head expects, the config key that sets them)."""
        raise NotImplementedError

    @property
    def num_classes(self):
        return self.head.num_classes

    def forward(self, image):
        return self.forward_from_features(self.backbone(image))

    def forward_from_features(self, feats):
        """Neck + head on backbone features (lets sensitivity analysis reuse the backbone)."""
        return self.head(self.neck(feats))

    def get_loss(self, outputs, inputs):
        """The head's loss; ``inputs['gt_bbox']`` [B,M,4] x1y1x2y2 input pixels (PadBox rows)."""
        return self.head.get_loss(outputs, inputs)

    def decode_rows(self, outputs, im_shape, scale_factor):
        """-> boxes [B,N,4] (x1,y1,x2,y2 original pixels, clipped), scores [B,N,C]."""
        boxes, rows = self.head.decode_rows(outputs)
        return to_original_pixels(boxes, im_shape, scale_factor), rows

    def prunable_params(self):
        return dense_prunable_params(self, ('cls_tower', 'box_tower'))

    def unprunable_reasons(self):
        out = super().unprunable_reasons()
        out.update(dense_unprunable_reasons(self, ('cls_tower', 'box_tower')))
        return out

    def check_teacher(self, teacher, loss):
        super().check_teacher(teacher, loss)
        if loss == 'fine_grained':
            check_same_locations(self, teacher)

    def fine_grained_distill_loss(self, outputs, teacher_outputs, obj_target='hard'):
        """The head's distillation terms on its outputs, summed (``obj_target`` is YOLOv3's
        and unused here; see :mod:`ppdet.modeling.losses.dense_distill_loss`)."""
        return paddle.add_n(list(self.head.distill_terms(outputs, teacher_outputs).values()))
