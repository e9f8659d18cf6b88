"""Whether a compressed checkpoint fits the model of a config, checked before it is loaded.

A pruned or quantization-aware checkpoint records its structure (its steps); replayed on a
model of another backbone, the file's tensors used to load where they fit and the first
forward failed deep in Paddle.  (A module of its own: it needs both the trainer and the
steps registry, which import each other's side.)
"""

__all__ = ['STRUCTURAL_STEPS', 'check_structure_fits']

STRUCTURAL_STEPS = ('prune', 'quant')


def check_structure_fits(cfg, path, config_flag='-c'):
    """Refuse a pruned (or QAT) checkpoint whose recorded structure does not fit the model
    of ``cfg`` -- one made with a config of another backbone -- before it is loaded: the
    record is replayed on this model, the file's tensors loaded where they fit, and the first
    forward failed with Paddle's ``(InvalidArgument) The number of input's channels should be
    equal to filter's channels * groups``.  Plain (or only distilled) checkpoints are not
    checked: as ``pretrain_weights`` they load what fits, with a warning.

    The slim scripts (distill.py, QAT train.py) call it before they load a checkpoint."""
    import numpy as np
    import paddle
    from ppdet.core.workspace import create
    from ppdet.slim.steps import restore_steps
    from ppdet.engine.trainer import architecture_of
    from ppdet.utils.checkpoint import META_KEY, clean_state_dict, misfit_fix, read_meta, \
        weights_file
    meta = read_meta(path)
    steps = meta.get('steps') or []
    kinds = [s.get('kind') for s in steps]
    if not set(kinds) & set(STRUCTURAL_STEPS):
        return
    made = '%s checkpoint %s' % (' and '.join(
        {'prune': 'pruned', 'quant': 'quantization-aware-trained'}[k]
        for k in STRUCTURAL_STEPS if k in kinds), path)
    arch = meta.get('architecture')
    if arch and arch != architecture_of(cfg):
        raise ValueError('%s was made for a %s model and %s builds %s; %s' % (
            made, arch, cfg.get('_config_path', 'the config'), architecture_of(cfg),
            misfit_fix(meta, cfg.get('_config_path'), config_flag)))
    try:
        model = restore_steps(create(architecture_of(cfg), cfg), steps)
        want = {k: list(v.shape) for k, v in clean_state_dict(model.state_dict()).items()}
    except Exception as e:  # the record names layers this model lacks
        raise ValueError('%s records a structure that cannot be rebuilt on the model of %s '
                         '(%s); %s' % (made, cfg.get('_config_path', 'the config'),
                                       str(e).strip().splitlines()[0] if str(e).strip()
                                       else type(e).__name__,
                                       misfit_fix(meta, cfg.get('_config_path'), config_flag)))
    state = paddle.load(weights_file(path))
    state.pop(META_KEY, None)
    state = clean_state_dict(state)
    missing = [k for k in want if k not in state]
    other = [k for k in want if k in state and list(np.shape(state[k])) != want[k]]
    if missing or other:
        raise ValueError(
            '%s does not fit the model of %s: its recorded structure is rebuilt on this model and '
            '%d of the model\'s %d tensors are missing in the file, %d of another shape%s; %s' % (
                made, cfg.get('_config_path', 'the config'), len(missing), len(want), len(other),
                ' (e.g. %s)' % (missing + other)[0],
                misfit_fix(meta, cfg.get('_config_path'), config_flag)))
