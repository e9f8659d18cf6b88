"""Setting a QAT model's observer scales in tests as training would (a uniquely named module
at the tests' root, importable from every test folder)."""
import paddle


def observe_qat(model, feeds, passes=10):
    """Run ``model``'s QAT observers (the model in eval mode: BN frozen) over ``passes``
    passes of ``feeds`` (image, im_shape, scale_factor arrays); -> its raw outputs after."""
    from ppdet.modeling.architectures import InferenceModel
    observers = [l for _, l in model.named_sublayers()
                 if 'Quant' in type(l).__name__ or 'Scale' in type(l).__name__]
    wrapper = InferenceModel(model, exclude_nms=True)
    args = [paddle.to_tensor(feeds[k]) for k in ('image', 'im_shape', 'scale_factor')]
    with paddle.no_grad():
        for layer in observers:
            layer.training = True
        for _ in range(passes):
            wrapper(*args)
        for layer in observers:
            layer.training = False
        return [t.numpy() for t in wrapper(*args)]
