"""BlazeFace's SSD-style head: per output level one 3x3 conv for box offsets and one for
class logits, over prior boxes laid on the level's grid.

As in PaddleDetection 1.x's ``BlazeFace._multi_box_head`` (the seed's configs):
``min_sizes`` [[16, 24], [32, 48, 64, 80, 96, 128]] at ``steps`` [8, 16], aspect ratio 1
only (one square prior per min size and cell), prior centres at ``(j + offset) * step``
with ``offset`` 0.5, not clipped, ``variances`` [0.1, 0.1, 0.2, 0.2] (``prior_box``'s
default).  At 640 that is 80*80*2 + 40*40*6 = 22400 priors.

Logits are softmax over ``num_classes + 1`` with background at index 0 (1.x's
``num_classes: 2  # 1(label_class) + 1(background)``); ``num_classes`` here counts the
foreground classes only, as everywhere in this project.

Outputs of :meth:`FaceHead.forward`: the raw conv maps, ``[loc_0, conf_0, loc_1,
conf_1]`` ([B, A*4, H, W] and [B, A*(C+1), H, W]); :meth:`flatten` gives ``loc`` [B,N,4]
and ``conf`` [B,N,C+1] in prior order (row, column, prior of the cell), and
:meth:`priors` the [N,4] prior boxes (x1, y1, x2, y2 input pixels).
State-dict keys: ``loc_convs.{i}.*``, ``conf_convs.{i}.*``.
"""
import paddle
import paddle.nn as nn
from paddle import ParamAttr
from paddle.regularizer import L2Decay

from ppdet.core.workspace import register
from ppdet.modeling.ops import build_if_given, built_for, cells_to_rows

__all__ = ['FaceHead']

MIN_SIZES = [[16., 24.], [32., 48., 64., 80., 96., 128.]]


@register
class FaceHead(nn.Layer):
    __shared__ = ['num_classes']
    __inject__ = ['loss']

    def __init__(self, num_classes=1, min_sizes=MIN_SIZES, steps=(8., 16.), offset=0.5,
                 variances=(0.1, 0.1, 0.2, 0.2), loss='SSDLoss', in_channels=None):
        super().__init__()
        self.num_classes = int(num_classes)
        self.min_sizes = [[float(s) for s in level] for level in min_sizes]
        self.steps = [float(s) for s in steps]
        if len(self.steps) != len(self.min_sizes):
            raise ValueError('FaceHead: %d min_sizes levels but %d steps; give one step per '
                             'level' % (len(self.min_sizes), len(self.steps)))
        self.offset = float(offset)
        self.variances = [float(v) for v in variances]
        if len(self.variances) != 4:
            raise ValueError('FaceHead.variances must have 4 values (cx, cy, w, h), got %r'
                             % (variances,))
        self.loss = loss
        build_if_given(self, in_channels)

    @property
    def num_priors(self):
        """Priors per cell, per level."""
        return [len(m) for m in self.min_sizes]

    def build_layers(self, in_channels):
        in_channels, done = built_for(self, in_channels, 'backbone')
        if done:
            return
        if len(in_channels) != len(self.min_sizes):
            raise ValueError('FaceHead: the backbone gives %d levels but min_sizes has %d; '
                             'set BlazeNet.with_extra_blocks or min_sizes to match'
                             % (len(in_channels), len(self.min_sizes)))
        self.in_channels = in_channels
        bias = ParamAttr(learning_rate=2., regularizer=L2Decay(0.))  # 1.x's b_attr
        self.loc_convs = nn.LayerList([nn.Conv2D(c, a * 4, 3, padding=1, bias_attr=bias)
                                       for c, a in zip(in_channels, self.num_priors)])
        self.conf_convs = nn.LayerList([
            nn.Conv2D(c, a * (self.num_classes + 1), 3, padding=1, bias_attr=bias)
            for c, a in zip(in_channels, self.num_priors)])

    def forward(self, feats):
        outs = []
        for f, loc, conf in zip(feats, self.loc_convs, self.conf_convs):
            outs += [loc(f), conf(f)]
        return outs

    def flatten(self, outputs):
        """Raw maps -> ``loc`` [B,N,4], ``conf`` [B,N,C+1] in prior order."""
        locs, confs = [], []
        for i in range(len(self.min_sizes)):
            loc, conf = outputs[2 * i], outputs[2 * i + 1]
            locs.append(cells_to_rows(loc, 4))
            confs.append(cells_to_rows(conf, self.num_classes + 1))
        return paddle.concat(locs, 1), paddle.concat(confs, 1)

    def priors(self, outputs):
        """[N, 4] prior boxes (x1, y1, x2, y2 in input pixels) for these output maps."""
        boxes = []
        for i, (sizes, step) in enumerate(zip(self.min_sizes, self.steps)):
            h, w = outputs[2 * i].shape[2], outputs[2 * i].shape[3]
            cy = (paddle.arange(h, dtype='float32') + self.offset) * step
            cx = (paddle.arange(w, dtype='float32') + self.offset) * step
            gy, gx = paddle.meshgrid(cy, cx)                                    # [h, w]
            c = paddle.stack([gx, gy, gx, gy], -1).reshape([h * w, 1, 4])
            half = paddle.to_tensor([[-s / 2, -s / 2, s / 2, s / 2] for s in sizes],
                                    dtype='float32').reshape([1, len(sizes), 4])
            boxes.append((c + half).reshape([-1, 4]))
        return paddle.concat(boxes, 0)

    def get_loss(self, outputs, inputs):
        if self.loss is None:
            raise ValueError('FaceHead has no loss; set FaceHead.loss: SSDLoss')
        loc, conf = self.flatten(outputs)
        return self.loss(loc, conf, self.priors(outputs), self.variances,
                         inputs['gt_bbox'], inputs['gt_class'])
