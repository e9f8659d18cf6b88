"""Whether a compressed checkpoint fits the model of a config, checked as it is loaded.

A pruned or quantization-aware checkpoint records its structure (its steps).  Replayed on a
model of another backbone, the record either named layers the model lacks (an ``unknown
parameter`` error that pointed at ``prune.py -P``) or rebuilt a structure the file's tensors
only partly fit; given as ``pretrain_weights`` (loaded leniently) the tensors that fit were
loaded and the first forward failed deep in Paddle.  The shared loaders
(:meth:`ppdet.engine.Trainer.load_weights`, :func:`ppdet.engine.trainer.build_model`) call
:func:`restore_structure`, so every script that loads a checkpoint (train, eval, export,
infer, the slim scripts) refuses such a file in one line naming the config it was made with.
"""

__all__ = ['STRUCTURAL_STEPS', 'compressed_name', 'restore_structure']

STRUCTURAL_STEPS = ('prune', 'quant')


def compressed_name(meta, path):
    """``'pruned checkpoint PATH'`` (or quantization-aware-trained, or both) when the
    checkpoint's record changes the model's structure, else None."""
    kinds = [s.get('kind') for s in (meta or {}).get('steps') or []]
    made = [{'prune': 'pruned', 'quant': 'quantization-aware-trained'}[k]
            for k in STRUCTURAL_STEPS if k in kinds]
    return '%s checkpoint %s' % (' and '.join(made), path) if made else None


def restore_structure(model, cfg, meta, path, config_flag='-c'):
    """Replay the checkpoint's recorded steps on ``model`` (built from ``cfg``) and return
    it; a structural record made for another architecture, or one naming layers this model
    lacks, is refused (ValueError naming the config the checkpoint was made with).  Whether
    the tensors then fit is the strict load's to say: a compressed checkpoint must fit the
    structure it rebuilt completely."""
    from ppdet.slim.prune import LIST_HINT
    from ppdet.slim.steps import restore_steps
    from ppdet.utils.checkpoint import misfit_fix
    steps = (meta or {}).get('steps')
    made = compressed_name(meta, path)
    if not made:
        return restore_steps(model, steps)
    where = cfg.get('_config_path', 'the config')
    arch, built = meta.get('architecture'), cfg.get('architecture')  # model built from cfg
    if arch and built and arch != built:
        raise ValueError('%s was made for a %s model and %s builds %s; %s' % (
            made, arch, where, built,
            misfit_fix(meta, cfg.get('_config_path'), config_flag)))
    try:
        return restore_steps(model, steps)
    except Exception as e:  # the record names layers this model lacks
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        first = lines[0] if lines else type(e).__name__
        if first.endswith(':') and len(lines) > 1:  # a heading: its first item says more
            first += ' ' + lines[1]
        first = first.replace(' ' + LIST_HINT, '')  # listing this model's names is no fix
        raise ValueError('%s records a structure that cannot be rebuilt on the model of %s '
                         '(%s); %s' % (made, where, first,
                                       misfit_fix(meta, cfg.get('_config_path'), config_flag)))
