"""``build_dataset(cfg, section)``: the dataset a config section names, checked against the
model's ``num_classes``."""
import copy

from ppdet.core.workspace import ConfigError, create

__all__ = ['build_dataset', 'check_num_classes']


def build_dataset(cfg, section='TrainDataset', **overrides):
    """Build the dataset described by ``cfg[section]`` (its ``name`` picks the class)."""
    spec = copy.deepcopy(dict(cfg.get(section) or {}))
    if not spec:
        raise ConfigError('the config has no %s section (add one, e.g. via _BASE_: '
                          '[datasets/builtin_coco.yml])' % section)
    name = spec.pop('name', None)
    if name is None:
        raise ConfigError('%s needs a "name" (COCODataSet, VOCDataSet or ImageFolder)' % section)
    spec.update(overrides)
    dataset = create(name, cfg, **spec)
    # training may replace an undecodable image by another record; evaluation and
    # inference never do (a metric would count the other image twice)
    dataset.on_bad_image = 'substitute' if section == 'TrainDataset' else 'skip'
    check_num_classes(cfg, dataset, section)
    return dataset


def check_num_classes(cfg, dataset, section):
    """The model's ``num_classes`` must equal the dataset's class count (when it has one)."""
    want, have = cfg.get('num_classes'), dataset.num_classes
    if want is None or not have or int(want) == have:
        return
    names = dataset.label_list()
    raise ConfigError('num_classes is %s but %s (%s) has %d classes (%s%s): set -o num_classes=%d, '
                      'or use the annotation file the model was made for' % (
                          want, section, dataset.get_anno(), have, ', '.join(names[:8]),
                          ', ...' if len(names) > 8 else '', have))
