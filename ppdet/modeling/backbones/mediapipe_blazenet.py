"""The backbone of MediaPipe's short-range ("front", 128x128) BlazeFace, layer for layer as
its released graph has it (third_party/mediapipe_blazeface/, read by
ppdet.modeling.importers.mediapipe_blazeface).

* stem: 5x5 conv, stride 2, bias, ReLU.  TensorFlow "SAME" padding on an even input:
  1 row/column before, 2 after (Paddle padding [top, bottom, left, right] = [1, 2, 1, 2]).
* 16 BlazeBlocks: 3x3 depthwise conv (no bias) -> 1x1 conv (bias), added to the shortcut,
  then ReLU.  A stride-2 block pads its depthwise conv 0 before / 1 after (SAME again) and
  its shortcut is a 2x2 max-pool; a block that widens (``c_out > c_in``) appends
  ``c_out - c_in`` zero channels to the shortcut.  No PReLU in this model (the 256x256
  "back" model is a different graph and is not built here).
* outputs: the 16x16 map after block 11 (88 channels, stride 8) and the 8x8 map after
  block 16 (96 channels, stride 16).

State-dict layout: ``stem.weight/bias``, ``blocks.{i}.dw.weight``, ``blocks.{i}.pw.weight/bias``.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppdet.core.workspace import register
from ppdet.modeling.ops import ResidualAdd

__all__ = ['MediaPipeBlazeNet', 'MediaPipeBlazeBlock', 'FRONT_BLOCKS']

# (c_in, c_out, stride) of the 16 blocks of the short-range model, as in its graph.
FRONT_BLOCKS = ((24, 24, 1), (24, 28, 1), (28, 32, 2), (32, 36, 1), (36, 42, 1),
                (42, 48, 2), (48, 56, 1), (56, 64, 1), (64, 72, 1), (72, 80, 1),
                (80, 88, 1), (88, 96, 2), (96, 96, 1), (96, 96, 1), (96, 96, 1),
                (96, 96, 1))


class MediaPipeBlazeBlock(nn.Layer):
    """relu(pw(dw(x)) + shortcut(x)); shortcut = [max-pool 2x2 if stride 2] then zero
    channels appended up to ``c_out``."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError('MediaPipeBlazeBlock stride must be 1 or 2, got %r' % (stride,))
        if c_out < c_in:
            raise ValueError('MediaPipeBlazeBlock cannot narrow (c_in=%d, c_out=%d): its '
                             'shortcut only appends zero channels' % (c_in, c_out))
        self.c_in, self.c_out, self.stride = int(c_in), int(c_out), int(stride)
        # SAME padding of a stride-2 3x3 conv on an even size: nothing before, 1 after
        pad = [0, 1, 0, 1] if stride == 2 else 1
        self.dw = nn.Conv2D(c_in, c_in, 3, stride=stride, padding=pad, groups=c_in,
                            bias_attr=False)
        self.pw = nn.Conv2D(c_in, c_out, 1)
        self.add = ResidualAdd()

    def forward(self, x):
        shortcut = F.max_pool2d(x, 2, 2) if self.stride == 2 else x
        if self.c_out > self.c_in:
            # zeros appended after the channels.  Not F.pad: Paddle Inference's oneDNN pad
            # kernel corrupts memory on a channel pad (2.6.2, seen as a segfault)
            zeros = paddle.tile(paddle.zeros_like(shortcut[:, :1]),
                                [1, self.c_out - self.c_in, 1, 1])
            shortcut = paddle.concat([shortcut, zeros], axis=1)
        return self.add(self.pw(self.dw(x)), shortcut)


@register
class MediaPipeBlazeNet(nn.Layer):
    """Returns the feature maps after the blocks numbered (from 1) in ``return_idx``."""

    def __init__(self, stem_channels=24, blocks=FRONT_BLOCKS, return_idx=(11, 16)):
        super().__init__()
        blocks = [tuple(int(v) for v in b) for b in blocks]
        if blocks[0][0] != stem_channels:
            raise ValueError('MediaPipeBlazeNet: the first block takes %d channels but '
                             'stem_channels is %d' % (blocks[0][0], stem_channels))
        for (_, prev_out, _), (c_in, _, _) in zip(blocks, blocks[1:]):
            if prev_out != c_in:
                raise ValueError('MediaPipeBlazeNet blocks do not chain: %d channels out, '
                                 '%d in (blocks=%r)' % (prev_out, c_in, blocks))
        bad = [i for i in return_idx if not 1 <= int(i) <= len(blocks)]
        if bad:
            raise ValueError('MediaPipeBlazeNet return_idx %r out of range 1..%d'
                             % (bad, len(blocks)))
        self.stem = nn.Conv2D(3, stem_channels, 5, stride=2, padding=[1, 2, 1, 2])
        self.blocks = nn.LayerList([MediaPipeBlazeBlock(*b) for b in blocks])
        self.return_idx = [int(i) for i in return_idx]
        self.out_channels = [blocks[i - 1][1] for i in self.return_idx]

    def forward(self, x):
        x = F.relu(self.stem(x))
        outs = []
        for i, block in enumerate(self.blocks, 1):
            x = block(x)
            if i in self.return_idx:
                outs.append(x)
        return outs
