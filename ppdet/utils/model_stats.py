"""FLOPs and size of a model, counted the way the seed reported them.

* ``count_flops(model, input_size, mode='seed')``: convolution multiply-
  accumulates for one ``[1, 3, S, S]`` image, as PaddleSlim's counter sees them:
  ``conv2d`` / depthwise convs only (no deformable conv, BN, activation, bias,
  decode or NMS).  ``mode='all'`` adds deformable convs; ``mode='paddleslim'``
  asks ``paddleslim.flops`` itself (slower; a cross-check).
  Report GFLOPs as MACs / 1024**3 (:func:`gflops`), the seed's unit.
* ``param_size_mb(model)``: float32 bytes of every state-dict tensor
  (parameters and BN statistics, not PaddleSlim's ``*_backup`` copies) / 1024**2.
  ``blocks=True`` rounds each tensor up to 4 KiB, like the old one-file-per-
  variable checkpoints the seed measured.
"""
import numpy as np
import paddle
import paddle.nn as nn

__all__ = ['count_flops', 'count_conv_macs', 'gflops', 'param_size_mb', 'model_stats', 'MODES',
           'config_input_size', 'config_input_size_origin', 'model_summary']

MODES = ('seed', 'all', 'paddleslim')
BACKUP_SUFFIX = '_backup'


def _conv_macs(layer, output):
    # weight [C_out, C_in/groups, kh, kw]: one MAC per weight per output pixel
    n, _, h, w = output.shape
    return int(n) * int(h) * int(w) * int(np.prod(layer.weight.shape))


def _sizes(input_size):
    if isinstance(input_size, (list, tuple)):
        if len(input_size) != 2:
            raise ValueError('input_size must be S or (H, W), got %r' % (input_size,))
        return int(input_size[0]), int(input_size[1])
    return int(input_size), int(input_size)


def forward_with_hooks(model, input_size, hook_for):
    """One no-grad eval-mode forward pass on a 1x3xHxW zero image, with
    ``hook_for(layer)`` (a forward post-hook, or None) attached to every sublayer."""
    h, w = _sizes(input_size)
    handles = []
    for layer in model.sublayers(include_self=True):
        hook = hook_for(layer)
        if hook is not None:
            handles.append(layer.register_forward_post_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            model(paddle.zeros([1, 3, h, w], 'float32'))
    finally:
        for handle in handles:
            handle.remove()
        if was_training:
            model.train()


def count_conv_macs(model, input_size=608):
    """One forward pass; returns {'conv': MACs of Conv2D layers, 'deformable': of DeformConv2D}."""
    total = {'conv': 0, 'deformable': 0}
    kinds = ((nn.Conv2D, 'conv'), (paddle.vision.ops.DeformConv2D, 'deformable'))

    def hook_for(layer):
        for cls, kind in kinds:
            if isinstance(layer, cls):
                def hook(layer, inputs, output, kind=kind):
                    total[kind] += _conv_macs(layer, output)
                return hook
        return None

    forward_with_hooks(model, input_size, hook_for)
    return total


def count_flops(model, input_size=608, mode='seed'):
    """Conv multiply-accumulates of ``model(image)`` for a 1x3xHxW zero image."""
    if mode not in MODES:
        raise ValueError('count_flops: mode %r unknown (use one of %s)' % (mode, ', '.join(MODES)))
    if mode == 'paddleslim':
        return _paddleslim_flops(model, *_sizes(input_size))
    macs = count_conv_macs(model, input_size)
    return macs['conv'] + (macs['deformable'] if mode == 'all' else 0)


def _paddleslim_flops(model, h, w):
    import paddleslim
    was_training = model.training
    model.eval()
    try:
        # a numpy input, not a shape: a shape becomes an assign op capped at 2**20 elements
        return int(paddleslim.flops(model, [np.zeros([1, 3, h, w], 'float32')]))
    finally:
        if not paddle.in_dynamic_mode():
            paddle.disable_static()
        if was_training:
            model.train()


def gflops(macs):
    return macs / 1024. ** 3


def param_size_mb(model, blocks=False):
    """Size in MiB of the float32 state dict (``*_backup`` buffers excluded)."""
    total = 0
    for key, value in model.state_dict().items():
        if key.endswith(BACKUP_SUFFIX):
            continue
        nbytes = int(np.prod(value.shape)) * 4
        if blocks:
            nbytes = -(-nbytes // 4096) * 4096
        total += nbytes
    return total / 1024. ** 2


def model_stats(model, input_sizes=(608,), modes=('seed',)):
    """List of dicts {input_size, gflops_<mode>..., size_mb, size_mb_blocks} per input size."""
    size, size_blocks = param_size_mb(model), param_size_mb(model, blocks=True)
    rows = []
    for s in input_sizes:
        row = {'input_size': s}
        macs = count_conv_macs(model, s) if set(modes) & {'seed', 'all'} else None
        for mode in modes:
            if mode == 'seed':
                value = macs['conv']
            elif mode == 'all':
                value = macs['conv'] + macs['deformable']
            else:
                value = count_flops(model, s, mode)
            row['gflops_%s' % mode] = gflops(value)
        row.update(size_mb=size, size_mb_blocks=size_blocks)
        rows.append(row)
    return rows


def config_input_size(cfg):
    """The evaluation input size of a config (what FLOPs and the pruner trace with)."""
    return config_input_size_origin(cfg)[0]


def config_input_size_origin(cfg):
    """``([h, w], where)``: :func:`config_input_size` and the config key it came from
    ('EvalReader Resize.target_size', ...), for a tool that says which size it used."""
    for section in ('EvalReader', 'TestReader'):
        for t in (cfg.get(section) or {}).get('sample_transforms', []):
            if 'Resize' in t:
                h, w = t['Resize']['target_size']
                return [int(h), int(w)], '%s Resize.target_size' % section
    shape = ((cfg.get('TestReader') or {}).get('inputs_def') or {}).get('image_shape')
    if shape and shape[-1]:
        return [int(shape[-2]), int(shape[-1])], 'TestReader.inputs_def.image_shape'
    raise ValueError('cannot tell the input size: give EvalReader a Resize transform')


def model_summary(model, input_size):
    return {'GFLOPs': gflops(count_flops(model, input_size)), 'size_MB': param_size_mb(model)}
