"""The exported graph: image + im_shape + scale_factor -> detections, NMS inside.

``InferenceModel(model)(image, im_shape, scale_factor)`` returns ``(bbox, bbox_num)``
(see :mod:`ppdet.modeling.post_process` for the convention).  With
``exclude_nms=True`` it returns the decoded ``boxes`` [B,N,4] (original pixels)
and ``scores`` [B,C,N] instead, for runtimes that run their own NMS.  Both go
through the architecture's own ``post_process`` / ``decode`` (see
:class:`ppdet.modeling.architectures.meta_arch.BaseArch`), so any family exports.
With ``preprocess`` (a :class:`FusedPreprocess`) the graph takes the resized uint8
image [B,H,W,3] and does the cast, normalisation and HWC -> CHW itself.
Trace it with ``paddle.jit.to_static(wrapper, input_spec=..., full_graph=True)``.
"""
import paddle
import paddle.nn as nn

__all__ = ['InferenceModel', 'FusedPreprocess']


class FusedPreprocess(nn.Layer):
    """uint8 [B,H,W,3] -> float32 [B,3,H,W]: ``NormalizeImage`` + ``Permute`` in the graph.

    Same arithmetic as the eval transforms (``x / 255``, then ``(x - mean) / std``), so a
    fused export sees the pixels an unfused one does; ``mean`` / ``std`` are constants of
    the graph, not parameters.
    """

    def __init__(self, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), is_scale=True):
        super().__init__()
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        self.is_scale = bool(is_scale)

    def forward(self, image):
        # HWC -> CHW before the arithmetic (same values, bit for bit): oneDNN's binary ops
        # broadcast a per-channel [1,3,1,1] over NCHW planes fast, while over NHWC's
        # innermost dimension of 3 they crawled - 7.9 ms against 1.8 ms for this layer at
        # 608 on one core, 18% of the r578 int8 model's oneDNN time.  (Paddle cannot
        # transpose uint8, so the cast comes first.)
        x = paddle.cast(image, 'float32').transpose([0, 3, 1, 2])
        if self.is_scale:
            x = x / 255.
        mean = paddle.to_tensor(self.mean, 'float32').reshape([1, -1, 1, 1])
        std = paddle.to_tensor(self.std, 'float32').reshape([1, -1, 1, 1])
        return (x - mean) / std


class InferenceModel(nn.Layer):
    def __init__(self, model, exclude_nms=False, preprocess=None):
        super().__init__()
        self.model = model
        self.exclude_nms = bool(exclude_nms)
        self.preprocess = preprocess

    def forward(self, image, im_shape, scale_factor):
        if self.preprocess is not None:
            image = self.preprocess(image)
        outputs = self.model(image)
        if self.exclude_nms:
            return self.model.decode(outputs, im_shape, scale_factor)
        return self.model.post_process(outputs, im_shape, scale_factor)
