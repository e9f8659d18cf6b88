"""What an export checks and says: an export over another checkpoint's export in the same
folder says so (exporting a pruned checkpoint with the base config replaced the baseline's
output/inference/CONFIG_NAME without a word; the same checkpoint again says nothing), and a
fixed input size is the export's Resize size."""
from ppdet.core.workspace import load_config
from ppdet.engine import Trainer
from ppdet.engine.export import export_checkpoint


def test_exporting_another_checkpoint_over_an_export_is_warned(tiny_config, tmp_path, ppdet_log):
    t = Trainer(load_config(tiny_config), mode='train')
    first, second = str(tmp_path / 'a' / 'model_final'), str(tmp_path / 'b' / 'model_final')
    t.save(first, epoch=1)
    t.save(second, epoch=1)
    out = str(tmp_path / 'inference')
    export_checkpoint(load_config(tiny_config), first, out)
    export_checkpoint(load_config(tiny_config), first, out)
    assert 'is replaced by the export of' not in ppdet_log.text
    export_checkpoint(load_config(tiny_config), second, out)
    assert ('%s holds the export of %s: it is replaced by the export of %s'
            % (out, first, second)) in ppdet_log.text


def test_a_fixed_input_size_is_the_resize_size_of_the_export(tiny_config, tmp_path):
    """-o TestReader.inputs_def.image_shape=[3,H,W] (what the ONNX and Paddle-Lite errors
    ask for) exported the model at H x W but kept the config's Resize, which every runner
    then refused; the export takes the size for the Resize, as PaddleDetection's does."""
    from ppdet.deploy import load_infer_cfg
    t = Trainer(load_config(tiny_config), mode='train')
    ckpt = str(tmp_path / 'w' / 'model_final')
    t.save(ckpt, epoch=1)
    out = str(tmp_path / 'inference')
    cfg = load_config(tiny_config, overrides=['TestReader.inputs_def.image_shape=[3,96,96]'])
    export_checkpoint(cfg, ckpt, out)
    info = load_infer_cfg(out)       # checks the Resize against the input size
    assert info['image_shape'] == [3, 96, 96]
    assert [op for op in info['Preprocess'] if op['type'] == 'Resize'][-1]['target_size'] == \
        [96, 96]


def test_component_settings_given_by_o_are_recorded_and_checked(tiny_config, tmp_path,
                                                                 ppdet_log):
    """Trained with -o MultiClassNMS.keep_top_k=7, evaluated or exported without it: the
    checkpoint did not record it and the run followed the config without a word (an audit);
    training-only and top-level overrides are not recorded."""
    over = ['MultiClassNMS.keep_top_k=7', 'epoch=2', 'LearningRate.base_lr=0.0005']
    t = Trainer(load_config(tiny_config, overrides=over), mode='train')
    ckpt = str(tmp_path / 'w' / 'model_final')
    t.save(ckpt, epoch=1)
    from ppdet.utils.checkpoint import read_meta
    assert read_meta(ckpt)['model_overrides'] == {'MultiClassNMS.keep_top_k': 7}
    Trainer(load_config(tiny_config, overrides=over[:1]), mode='eval').load_weights(ckpt)
    assert 'was trained with -o' not in ppdet_log.text
    Trainer(load_config(tiny_config), mode='eval').load_weights(ckpt)
    assert '%s was trained with -o MultiClassNMS.keep_top_k=7 (this config: ' % ckpt in \
        ppdet_log.text


def test_an_override_of_a_component_the_model_does_not_build_is_said(tiny_config, ppdet_log):
    """-o ResNet.depth=18 on a MobileNetV1 YOLOv3 was accepted and changed nothing (an
    audit; PaddleDetection does the same)."""
    Trainer(load_config(tiny_config, overrides=['YOLOv3Head.obj_prior=0.01']), mode='eval')
    assert 'so the override changes nothing' not in ppdet_log.text
    Trainer(load_config(tiny_config, overrides=['ResNet.depth=18']), mode='eval')
    assert '-o ResNet.depth=18: the model of this config builds no ResNet (its components: ' \
           'BBoxPostProcess, MobileNetV1, YOLOv3' in ppdet_log.text
