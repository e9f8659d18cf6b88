"""An export over another checkpoint's export in the same folder says so (exporting a pruned
checkpoint with the base config replaced the baseline's output/inference/CONFIG_NAME without a
word); exporting the same checkpoint again says nothing."""
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
