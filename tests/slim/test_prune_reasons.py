"""prune.py names why a conv the user names cannot be pruned: the family says it
(``unprunable_reasons()``), not one message for every case."""
import pytest

from ppdet.core.workspace import load_config
from ppdet.engine import build_model
from ppdet.slim.prune import resolve_names


def _refusal(config, name):
    model = build_model(load_config(config))[0]
    with pytest.raises(ValueError) as e:
        resolve_names(model, [name])
    return str(e.value)


@pytest.mark.parametrize('config, name, why', [
    # a tower conv before GroupNorm / EvoNorm-S0 (it said 'an output conv's channels are
    # fixed by the anchors and classes')
    ('configs/fcos/fcos_r50_fpn_1x_coco.yml', 'head.cls_tower.convs.0.weight',
     'feeds a GroupNorm'),
    ('configs/retinanet/retinanet_r50_fpn_gn_1x_coco.yml', 'neck.fpn_convs.0.conv.weight',
     'feeds a GroupNorm'),
    ('configs/retinanet/retinanet_r50_fpn_evonorm_1x_coco.yml', 'head.box_tower.convs.2.weight',
     'feeds an EvoNormS0'),
    ('configs/retinanet/efficientdet_d0_bifpn_coco.yml', 'head.box_tower.dw_convs.0.weight',
     'separable tower'),
    # FPN convs that share the width of the one prunable_params() names
    ('configs/builtin/retinanet_r18_builtin.yml', 'neck.lateral_convs.2.conv.weight',
     'pruned with neck.lateral_convs.0.conv.weight'),
    ('configs/builtin/fcos_r18_builtin.yml', 'neck.fpn_convs.1.conv.weight',
     'pruned with neck.fpn_convs.0.conv.weight'),
    ('configs/builtin/fcos_r18_builtin.yml', 'head.cls_out.weight', 'an output conv'),
    ('configs/yolov3_mobilenet_v1.yml', 'yolo_head.yolo_output.0.weight', 'an output conv'),
    # BlazeFace under its 1.x names (they were 'unknown parameter') and state-dict keys
    ('configs/face_detection/blazeface_640.yml', 'double_blaze_02_sep_weights',
     "added to the block's shortcut"),
    ('configs/face_detection/blazeface_640.yml', 'conv1_weights', "first block's input"),
    ('configs/face_detection/blazeface_640.yml', 'blaze_01_dw_weights', 'a depthwise conv'),
    ('configs/face_detection/blazeface_640.yml', 'backbone.blaze_0.sep1.conv.weight',
     "added to the block's shortcut"),
    ('configs/face_detection/blazeface_lite_640.yml', 'conv3_dw_weights',
     'BlazeFace-Lite declares no prunable convs'),
])
def test_the_reason_is_the_convs_own(config, name, why):
    msg = _refusal(config, name)
    assert "parameter %r cannot be pruned: " % name in msg and why in msg, msg
    assert 'prune.py -P' in msg


def test_other_parameters_get_the_generic_reasons():
    config = 'configs/builtin/fcos_r18_builtin.yml'
    assert 'not a conv weight' in _refusal(config, 'head.scales.0.scale')
    conv = [n for n, p in build_model(load_config(config))[0].named_parameters()
            if n.startswith('backbone.') and len(p.shape) == 4][0]
    assert 'not one of the convs FCOS declares prunable' in _refusal(config, conv)
    assert 'unknown parameter' in _refusal(config, 'head.cls_tower.convs.9.weight')


@pytest.mark.parametrize('config', [
    'configs/fcos/fcos_r50_fpn_1x_coco.yml', 'configs/builtin/retinanet_r18_builtin.yml',
    'configs/face_detection/blazeface_640.yml', 'configs/yolov3_mobilenet_v1.yml'])
def test_no_prunable_conv_is_given_a_reason_and_prune_P_lists_the_reasons(config):
    from ppdet.slim.prune import format_unprunable, prunable_params
    model = build_model(load_config(config))[0]
    params = prunable_params(model)
    keys = {k for k, p in model.named_parameters() if any(p is q for q in params.values())}
    reasons = model.unprunable_reasons()
    assert reasons and not (set(reasons) & (set(params) | keys))
    text = format_unprunable(reasons)
    assert text.startswith('not prunable') and len(text.splitlines()) == 1 + len(
        set(reasons.values()))
