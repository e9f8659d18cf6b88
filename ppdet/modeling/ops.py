"""Small building blocks and detection ops shared by the modeling package.

``multiclass_nms`` runs Paddle's ``multiclass_nms3`` kernel both in dygraph and
inside ``paddle.jit.to_static`` (there it is appended as a static-graph op), so
an exported model carries its NMS.  The box helpers work on ``[..., 4]``
tensors.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.regularizer import L2Decay

__all__ = ['ConvBNLayer', 'ResidualAdd', 'norm_attrs', 'multiclass_nms', 'xywh2xyxy', 'pairwise_iou']


def norm_attrs(norm_decay=0., lr=1.0, trainable=True):
    """ParamAttr pair (scale, offset) for a batch norm; decay 0 keeps BN out of L2."""
    kw = dict(learning_rate=lr, trainable=trainable)
    if norm_decay is not None:
        kw['regularizer'] = L2Decay(float(norm_decay))
    return ParamAttr(**kw), ParamAttr(**kw)


class ConvBNLayer(nn.Layer):
    """conv (no bias) + BatchNorm2D + optional activation (YOLOv3 neck style).

    Sub-layer names ``conv`` and ``batch_norm`` follow PaddleDetection 2.x's
    darknet ``ConvBNLayer`` so released weights load by name.
    """

    def __init__(self, ch_in, ch_out, filter_size=3, stride=1, groups=1,
                 padding=None, act='leaky', norm_decay=0., freeze_norm=False):
        super().__init__()
        if padding is None:
            padding = (filter_size - 1) // 2
        self.conv = nn.Conv2D(ch_in, ch_out, filter_size, stride=stride, padding=padding,
                              groups=groups, bias_attr=False)
        w_attr, b_attr = norm_attrs(norm_decay, lr=0. if freeze_norm else 1.,
                                    trainable=not freeze_norm)
        self.batch_norm = nn.BatchNorm2D(ch_out, weight_attr=w_attr, bias_attr=b_attr,
                                         use_global_stats=True if freeze_norm else None)
        self.act = act

    def forward(self, x):
        x = self.batch_norm(self.conv(x))
        if self.act == 'leaky':
            x = F.leaky_relu(x, 0.1)
        elif self.act == 'relu':
            x = F.relu(x)
        return x


class ResidualAdd(nn.Layer):
    """``relu(x + y)``: a block's shortcut added to its branch, then the ReLU.

    A layer rather than an inline add so that quantization-aware training can put int8
    observers on the inputs of the adds oneDNN cannot fold into a conv
    (:mod:`ppdet.slim.residual_adds`): ``input_quanters`` (two layers, one per input, or
    None), ``output_quanter`` (a layer or None) and ``trace_name`` (the add's output name in
    a traced program, or None) are set there and nowhere else.
    """

    def __init__(self):
        super().__init__()
        self.input_quanters = None
        self.output_quanter = None
        self.trace_name = None

    def forward(self, x, y):
        if self.input_quanters is not None:
            x, y = self.input_quanters[0](x), self.input_quanters[1](y)
        out = F.relu(paddle.add(x, y, name=self.trace_name))
        return out if self.output_quanter is None else self.output_quanter(out)


def cells_to_rows(m, k):
    """[B, A*k, H, W] map -> [B, H*W*A, k] rows (row, column, anchor order).

    The row count is written out when H and W are known, so a model exported at a fixed
    input size keeps a static box count all the way to NMS (``reshape([0, -1, k])`` leaves it
    -1 beside the dynamic batch, and paddle2onnx 1.3.1 mis-converts NMS over a dynamic count).
    """
    c, h, w = [int(d) for d in m.shape[1:4]]
    rows = h * w * (c // k) if min(c, h, w) > 0 else -1
    return m.transpose([0, 2, 3, 1]).reshape([0, rows, k])


def multiclass_nms(bboxes, scores, score_threshold, nms_top_k, keep_top_k,
                   nms_threshold=0.45, normalized=False, nms_eta=1.0, background_label=-1):
    """Per-class NMS over ``bboxes`` [B,N,4] and ``scores`` [B,C,N].

    Returns ``(out, nms_num)``: ``out`` [M,6] rows (class, score, x1, y1, x2, y2)
    for all images concatenated, ``nms_num`` [B] int32 rows per image.
    ``normalized=False`` means pixel boxes (+1 in width/height, as in the seed).
    """
    attrs = (score_threshold, nms_top_k, keep_top_k, nms_threshold, normalized,
             nms_eta, background_label)
    if paddle.in_dynamic_mode():
        out, _, nms_num = paddle._C_ops.multiclass_nms3(bboxes, scores, None, *attrs)
        return out, nms_num
    from paddle.base.layer_helper import LayerHelper
    helper = LayerHelper('multiclass_nms3')
    out = helper.create_variable_for_type_inference(dtype=bboxes.dtype)
    index = helper.create_variable_for_type_inference(dtype='int32')
    nms_num = helper.create_variable_for_type_inference(dtype='int32')
    helper.append_op(
        type='multiclass_nms3',
        inputs={'BBoxes': bboxes, 'Scores': scores},
        attrs={'background_label': background_label, 'score_threshold': score_threshold,
               'nms_top_k': nms_top_k, 'nms_threshold': nms_threshold,
               'keep_top_k': keep_top_k, 'nms_eta': nms_eta, 'normalized': normalized},
        outputs={'Out': out, 'Index': index, 'NmsRoisNum': nms_num})
    out.stop_gradient = True
    nms_num.stop_gradient = True
    return out, nms_num


def xywh2xyxy(box):
    """(cx, cy, w, h) -> (x1, y1, x2, y2) on the last axis."""
    cx, cy, w, h = paddle.split(box, 4, axis=-1)
    return paddle.concat([cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5], axis=-1)


def pairwise_iou(box1, box2, eps=1e-9):
    """IoU of xyxy boxes ``box1`` [B,N,4] against ``box2`` [B,M,4] -> [B,N,M]."""
    b1 = box1.unsqueeze(2)  # [B,N,1,4]
    b2 = box2.unsqueeze(1)  # [B,1,M,4]
    x1 = paddle.maximum(b1[..., 0], b2[..., 0])
    y1 = paddle.maximum(b1[..., 1], b2[..., 1])
    x2 = paddle.minimum(b1[..., 2], b2[..., 2])
    y2 = paddle.minimum(b1[..., 3], b2[..., 3])
    inter = (x2 - x1).clip(min=0) * (y2 - y1).clip(min=0)
    area1 = (b1[..., 2] - b1[..., 0]).clip(min=0) * (b1[..., 3] - b1[..., 1]).clip(min=0)
    area2 = (b2[..., 2] - b2[..., 0]).clip(min=0) * (b2[..., 3] - b2[..., 1]).clip(min=0)
    return inter / (area1 + area2 - inter + eps)


def build_if_given(layer, in_channels):
    """Constructor tail of such a component: build now when ``in_channels`` is given (the
    component used alone), else later, when the architecture calls ``build_layers``."""
    layer.in_channels = None
    if in_channels is not None:
        layer.build_layers(in_channels)


def built_for(layer, in_channels, source):
    """For a component whose sub-layers are built from the widths of the one before it
    (``build_layers(in_channels)``): ``(in_channels as ints, already_built)``; raises when
    ``layer`` was already built for other widths (e.g. ``in_channels`` set in its config)."""
    in_channels = [int(c) for c in in_channels]
    if getattr(layer, 'in_channels', None) is None:
        return in_channels, False
    if in_channels != layer.in_channels:
        name = type(layer).__name__
        raise ValueError('%s was built for in_channels %s but the %s gives %s; drop %s.in_channels '
                         'from the config' % (name, layer.in_channels, source, in_channels, name))
    return in_channels, True
