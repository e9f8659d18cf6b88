"""The exported graph: image + im_shape + scale_factor -> detections, NMS inside.

``InferenceModel(model)(image, im_shape, scale_factor)`` returns ``(bbox, bbox_num)``
(see :mod:`ppdet.modeling.post_process` for the convention).  With
``exclude_nms=True`` it returns the decoded ``boxes`` [B,N,4] (original pixels)
and ``scores`` [B,C,N] instead, for runtimes that run their own NMS.  Both go
through the architecture's own ``post_process`` / ``decode`` (see
:class:`ppdet.modeling.architectures.meta_arch.BaseArch`), so any family exports.
Trace it with ``paddle.jit.to_static(wrapper, input_spec=..., full_graph=True)``.
"""
import paddle.nn as nn

__all__ = ['InferenceModel']


class InferenceModel(nn.Layer):
    def __init__(self, model, exclude_nms=False):
        super().__init__()
        self.model = model
        self.exclude_nms = bool(exclude_nms)

    def forward(self, image, im_shape, scale_factor):
        outputs = self.model(image)
        if self.exclude_nms:
            return self.model.decode(outputs, im_shape, scale_factor)
        return self.model.post_process(outputs, im_shape, scale_factor)
