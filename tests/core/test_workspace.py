import textwrap

import pytest

from ppdet.core.workspace import (ConfigError, apply_overrides, create, load_config, register)


@register
class WsTinyBackbone(object):
    def __init__(self, depth=18, width=1.0):
        self.depth, self.width = depth, width


@register
class WsTinyHead(object):
    __shared__ = ['num_classes']

    def __init__(self, num_classes=80, hidden=64):
        self.num_classes, self.hidden = num_classes, hidden


@register
class WsTinyArch(object):
    __inject__ = ['backbone', 'head']

    def __init__(self, backbone='WsTinyBackbone', head='WsTinyHead', scale=1):
        self.backbone, self.head, self.scale = backbone, head, scale


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def test_base_inheritance_inject_and_shared(tmp_path):
    _write(tmp_path, 'base.yml', """
        architecture: WsTinyArch
        num_classes: 80
        WsTinyBackbone: {depth: 34, width: 0.5}
        WsTinyHead: {hidden: 32}
        epoch: 10
    """)
    child = _write(tmp_path, 'child.yml', """
        _BASE_: [base.yml]
        num_classes: 3
        WsTinyBackbone: {depth: 50}
    """)
    cfg = load_config(child)
    assert cfg.epoch == 10
    arch = create(cfg.architecture, cfg)
    assert arch.backbone.depth == 50 and arch.backbone.width == 0.5  # deep merge keeps width
    assert arch.head.num_classes == 3 and arch.head.hidden == 32
    # an injected component can also be given inline with its arguments
    arch2 = create('WsTinyArch', cfg, head={'name': 'WsTinyHead', 'hidden': 7})
    assert arch2.head.hidden == 7 and arch2.head.num_classes == 3


def test_overrides_nested_and_typed(tmp_path):
    path = _write(tmp_path, 'c.yml', """
        architecture: WsTinyArch
        epoch: 10
        TrainReader: {batch_size: 8}
    """)
    cfg = load_config(path, overrides=['epoch=3', 'TrainReader.batch_size=2', 'WsTinyBackbone.depth=101'])
    assert cfg.epoch == 3 and cfg.TrainReader['batch_size'] == 2
    assert create('WsTinyArch', cfg).backbone.depth == 101


def test_unknown_keys_list_close_matches(tmp_path):
    path = _write(tmp_path, 'c.yml', """
        architecture: WsTinyArch
        epochs: 10
    """)
    with pytest.raises(ConfigError, match=r"unknown config key 'epochs'.*did you mean 'epoch'"):
        load_config(path)
    ok = _write(tmp_path, 'ok.yml', "architecture: WsTinyArch\nepoch: 1\nWsTinyBackbone: {dpth: 3}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'dpth' in section WsTinyBackbone.*'depth'"):
        load_config(ok)
    cfg = load_config(_write(tmp_path, 'ok2.yml', "architecture: WsTinyArch\nepoch: 1\n"))
    with pytest.raises(ConfigError, match=r"did you mean 'epoch'"):
        apply_overrides(cfg, ['epcoh=3'])
    with pytest.raises(ConfigError, match=r"did you mean 'WsTinyBackbone'"):
        create('_TinyBackbon', cfg)
    with pytest.raises(ConfigError, match='key=value'):
        apply_overrides(cfg, ['epoch'])


def test_yaml_is_loaded_safely(tmp_path):
    path = _write(tmp_path, 'evil.yml', """
        architecture: !!python/object/apply:os.system ["echo pwned"]
    """)
    with pytest.raises(ConfigError, match=r'evil.yml:2: .*python/object/apply:os.system.*'
                                          r'safe_load.*remove the tag'):
        load_config(path)


def test_broken_yaml_is_a_config_error(tmp_path):
    path = _write(tmp_path, 'broken.yml', "a: [1, 2\n")
    with pytest.raises(ConfigError, match='broken.yml is not valid YAML'):
        load_config(path)


def test_base_cycle_and_missing_file(tmp_path):
    _write(tmp_path, 'a.yml', "_BASE_: [b.yml]\n")
    _write(tmp_path, 'b.yml', "_BASE_: [a.yml]\n")
    with pytest.raises(ConfigError, match='cycle'):
        load_config(str(tmp_path / 'a.yml'))
    with pytest.raises(ConfigError, match='not found'):
        load_config(str(tmp_path / 'nope.yml'))
