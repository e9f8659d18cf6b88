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


def test_keys_nothing_reads_are_refused_with_the_fix(tmp_path):
    path = _write(tmp_path, 'cfg.yml', 'architecture: WsTinyArch\nuse_xpu: false\n')
    with pytest.raises(ConfigError, match="'use_xpu' is not supported: XPU devices.*remove it"):
        load_config(path)
    ok = _write(tmp_path, 'ok.yml', 'architecture: WsTinyArch\n')
    with pytest.raises(ConfigError, match="'eval_size' is not supported: .*EvalReader"):
        load_config(ok, overrides=['eval_size=[608,608]'])
    cfg = load_config(ok, overrides=['use_ema=true', 'ema_decay=0.999', 'eval_interval=2',
                                     'print_flops=true', 'log_file=a.log'])
    assert cfg['use_ema'] is True and cfg['eval_interval'] == 2


def test_shared_keys_of_registered_components_are_valid_top_level_keys(tmp_path):
    @register
    class WsSharedProbe(object):
        __shared__ = ['probe_width']

        def __init__(self, probe_width=1):
            self.probe_width = probe_width

    path = _write(tmp_path, 'cfg.yml', 'architecture: WsTinyArch\nprobe_width: 3\n')
    cfg = load_config(path)
    assert create('WsSharedProbe', cfg).probe_width == 3
    with pytest.raises(ConfigError, match="unknown config key 'probe_widht'.*'probe_width'"):
        load_config(path, overrides=['probe_widht=2'])


def _plugin_package(tmp_path, monkeypatch, package, head):
    """A package on sys.path whose import registers the class ``head`` (width=8)."""
    pkg = tmp_path / package
    pkg.mkdir()
    (pkg / '__init__.py').write_text(textwrap.dedent('''
        from ppdet.core.workspace import register

        @register
        class %s(object):
            def __init__(self, width=8):
                self.width = width
    ''' % head))
    monkeypatch.syspath_prepend(str(tmp_path))


def test_custom_imports_register_a_family_from_its_own_module(tmp_path, monkeypatch):
    _plugin_package(tmp_path, monkeypatch, 'my_family_pkg', 'WsPluginHead')
    path = _write(tmp_path, 'cfg.yml', 'custom_imports: [my_family_pkg]\n'
                                       'WsPluginHead: {width: 16}\n')
    cfg = load_config(path)
    assert create('WsPluginHead', cfg).width == 16
    bad = _write(tmp_path, 'bad.yml', 'custom_imports: [no_such_family_pkg]\n')
    with pytest.raises(ConfigError, match="custom_imports: cannot import 'no_such_family_pkg'"):
        load_config(bad)


def test_custom_imports_given_as_an_override_are_imported(tmp_path, monkeypatch):
    """``-o custom_imports=[...]`` used to be applied after the imports: never imported."""
    _plugin_package(tmp_path, monkeypatch, 'my_override_pkg', 'WsOverrideHead')
    path = _write(tmp_path, 'cfg.yml', 'epoch: 1\n')
    cfg = load_config(path, overrides=['custom_imports=[my_override_pkg]',
                                       'WsOverrideHead.width=3'])
    assert create('WsOverrideHead', cfg).width == 3
    with pytest.raises(ConfigError, match="cannot import 'no_such_override_pkg'"):
        load_config(path, overrides=['custom_imports=[no_such_override_pkg]'])
    with pytest.raises(ConfigError, match='custom_imports must be a list of module names'):
        load_config(path, overrides=['custom_imports=3'])


@pytest.mark.parametrize('override, message', [
    ('epoch=abc', "epoch must be an integer; got 'abc'"),
    ('epoch=1.5', 'epoch must be an integer; got 1.5'),
    ('epoch=0', 'epoch must be >= 1; got 0'),
    ('snapshot_epoch=0', 'snapshot_epoch must be >= 1'),
    ('worker_num=-1', 'worker_num must be >= 0'),
    ('num_classes=six', "num_classes must be an integer; got 'six'"),
    ('use_ema=flase', "use_ema must be true or false; got 'flase'"),
    ('ema_decay=high', "ema_decay must be a number; got 'high'"),
    ('TrainReader=5', 'TrainReader is a section: it takes "key: value" lines under it'),
    ('epoch=[1', "override 'epoch=\\[1': the value is not valid YAML"),
    ('epoch=!!python/object/apply:os.system ["true"]',
     'values are read with yaml.safe_load, which never executes tags'),
    ('base_lr=0', "unknown config key 'base_lr' .*did you mean 'LearningRate.base_lr'\\?"),
    ('batch_size=2', "did you mean 'TrainReader.batch_size'\\?"),
])
def test_a_bad_value_names_its_key(tmp_path, override, message):
    """A value of the wrong type used to be read anyway (``use_ema=flase`` as true,
    ``epoch=0`` trained nothing) or fail deep inside the trainer without the key's name."""
    path = _write(tmp_path, 'c.yml', """
        architecture: WsTinyArch
        epoch: 10
        LearningRate: {base_lr: 0.01}
        TrainReader: {batch_size: 8}
    """)
    with pytest.raises(ConfigError, match=message):
        load_config(path, overrides=[override])


def test_typed_settings_that_are_fine(tmp_path):
    path = _write(tmp_path, 'c.yml', 'architecture: WsTinyArch\nepoch: 10\n')
    cfg = load_config(path, overrides=['epoch=2.0', 'use_ema=true', 'seed=null',
                                       'max_iters_per_epoch=0', 'ema_decay=0.99',
                                       'Quant.weight_bits=8', 'PostQuant.algo=KL'])
    assert cfg.epoch == 2 and isinstance(cfg.epoch, int) and cfg.use_ema is True
    assert cfg.Quant == {'weight_bits': 8} and cfg.PostQuant == {'algo': 'KL'}


def test_config_files_the_loader_refuses_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match='is a directory; give a YAML file in it'):
        load_config(str(tmp_path))
    binary = tmp_path / 'binary.yml'
    binary.write_bytes(b'\xff\xfe\x00epoch: 3\n')
    with pytest.raises(ConfigError, match='binary.yml is not UTF-8 text'):
        load_config(str(binary))
    scalar = _write(tmp_path, 'scalar.yml', 'architecture: WsTinyArch\nWsTinyHead: 3\n')
    with pytest.raises(ConfigError, match='WsTinyHead is a section'):
        load_config(scalar)
    bad_base = _write(tmp_path, 'bad_base.yml', '_BASE_: 3\nepoch: 1\n')
    with pytest.raises(ConfigError, match='_BASE_ must be a file name or a list of them'):
        load_config(bad_base)


def test_every_o_adds_its_overrides():
    """A second ``-o`` used to replace the first one's entries without a word (the
    weights of ``-o weights=W -o EvalReader.batch_size=4`` were dropped)."""
    from ppdet.utils.cli import ArgsParser
    args = ArgsParser().parse_args(['-c', 'x.yml', '-o', 'weights=W', 'epoch=2',
                                    '-o', 'EvalReader.batch_size=4'])
    assert args.opt == ['weights=W', 'epoch=2', 'EvalReader.batch_size=4']
    assert ArgsParser().parse_args(['-c', 'x.yml']).opt == []


def test_a_child_section_naming_another_component_replaces_the_bases(tmp_path):
    """_BASE_ merged a child's VOCDataSet into the base's COCODataSet (its image_dir: val
    and allow_empty leaked in; -o already replaced): an audit."""
    _write(tmp_path, 'base.yml', """
        architecture: WsTinyArch
        EvalDataset: {name: COCODataSet, dataset_dir: d, image_dir: val,
                      anno_path: a.json, allow_empty: true}
        WsTinyBackbone: {depth: 34, width: 0.5}
    """)
    child = _write(tmp_path, 'child.yml', """
        _BASE_: [base.yml]
        EvalDataset: {name: VOCDataSet, dataset_dir: v, anno_path: test.txt}
        WsTinyBackbone: {depth: 50}
    """)
    cfg = load_config(child, validate=False)
    assert cfg['EvalDataset'] == {'name': 'VOCDataSet', 'dataset_dir': 'v',
                                  'anno_path': 'test.txt'}
    assert cfg['WsTinyBackbone'] == {'depth': 50, 'width': 0.5}     # same component: merged


def test_an_empty_section_over_a_bases_is_refused(tmp_path):
    """`WsTinyHead:` with its lines commented out set the base's settings back to the
    defaults without a word (the built-in anchors became COCO's: AP 0): an audit."""
    _write(tmp_path, 'base.yml', """
        architecture: WsTinyArch
        WsTinyHead: {hidden: 32}
    """)
    child = _write(tmp_path, 'child.yml', """
        _BASE_: [base.yml]
        WsTinyHead:
        #  hidden: 16
    """)
    with pytest.raises(ConfigError, match=r'child.yml: WsTinyHead is empty \(null\) here, which '
                                          r'would drop the whole section its _BASE_ gives'):
        load_config(child)


def test_numbers_with_an_exponent_are_floats_and_paths_must_be_strings(tmp_path):
    """YAML 1.1 read 1e-2 as a string (-o YOLOv3Head.obj_prior=1e-2 failed in arithmetic);
    -o save_dir=0777 became the int 511 and log_file=on True (raw tracebacks): an audit."""
    path = _write(tmp_path, 'c.yml', """
        architecture: WsTinyArch
        WsTinyBackbone: {width: 5e-1}
        ema_decay: 9.998E-1
    """)
    cfg = load_config(path, overrides=['WsTinyHead.hidden=2e1', 'save_dir="0777"'])
    assert cfg['WsTinyBackbone']['width'] == 0.5 and cfg['ema_decay'] == 0.9998
    assert cfg['WsTinyHead']['hidden'] == 20.0 and cfg['save_dir'] == '0777'
    with pytest.raises(ConfigError, match=r"save_dir must be a path \(quote it if YAML reads "
                                          r"it as a number or a boolean\); got 511"):
        load_config(path, overrides=['save_dir=0777'])
    with pytest.raises(ConfigError, match='log_file must be a path'):
        load_config(path, overrides=['log_file=on'])
    assert load_config(path, overrides=['weights=null'])['weights'] is None


def test_a_section_with_another_num_classes_than_the_shared_one_is_refused(tmp_path):
    """-o YOLOv3Head.num_classes=5 under num_classes: 6 built a head and a loss of other
    widths; training died in Paddle's shape check (an audit)."""
    path = _write(tmp_path, 'c.yml', """
        architecture: WsTinyArch
        num_classes: 6
    """)
    assert load_config(path, overrides=['WsTinyHead.num_classes=6'])['WsTinyHead'] == \
        {'num_classes': 6}
    with pytest.raises(ConfigError, match=r'WsTinyHead.num_classes 5 differs from num_classes '
                                          r'6, which every component shares'):
        load_config(path, overrides=['WsTinyHead.num_classes=5'])


def test_a_base_under_home_and_loader_keys_in_o(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    _write(tmp_path, 'home_base.yml', 'architecture: WsTinyArch\nepoch: 7\n')
    child = _write(tmp_path, 'child.yml', '_BASE_: [~/home_base.yml]\n')
    assert load_config(child)['epoch'] == 7          # expanded, as PaddleDetection does
    with pytest.raises(ConfigError, match=r"override '_config_path=x.yml': keys starting with _ "
                                          r"are set by the loader"):
        load_config(child, overrides=['_config_path=x.yml'])


def test_an_unknown_section_in_o_suggests_sections_only(tmp_path):
    """-o NoSuch.key=1 suggested 'epoch' (any top-level key, at cutoff 0.5): an audit."""
    path = _write(tmp_path, 'c.yml', 'architecture: WsTinyArch\nepoch: 1\n')
    with pytest.raises(ConfigError) as e:
        load_config(path, overrides=['NoSuch.key=1'])
    assert 'did you mean' not in str(e.value)
    with pytest.raises(ConfigError, match="did you mean 'WsTinyHead'"):
        load_config(path, overrides=['WsTinyHaed.hidden=1'])
