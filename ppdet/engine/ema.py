"""Exponential moving average of the weights (``use_ema: true``, ``ema_decay``).

As in PaddleDetection's ``ModelEMA``: after every optimizer step each float tensor of
the state dict (weights and BN statistics) moves towards the model's, with the decay
warmed up as ``min(decay, (1 + n) / (10 + n))`` so the first steps are not dominated
by the random initialisation.  The averaged weights are what evaluation during
training sees and what a checkpoint's ``.pdparams`` holds (what users deploy); the raw
training weights and the step count go into ``<prefix>.pdema`` so that ``-r`` resumes
training exactly where it stopped.
"""
import contextlib
import os

import paddle

from ppdet.utils.checkpoint import atomic_paddle_save, clean_state_dict, interrupted_save

__all__ = ['ModelEMA', 'EMA_SUFFIX']

EMA_SUFFIX = '.pdema'


class ModelEMA(object):
    def __init__(self, model, decay=0.9998):
        if not 0.0 < float(decay) < 1.0:
            raise ValueError('ema_decay %r must be in (0, 1), e.g. 0.9998' % decay)
        self.decay = float(decay)
        self.step = 0
        self.state = {k: v.detach().clone() for k, v in self._floats(model).items()}

    @staticmethod
    def _floats(model):
        return {k: v for k, v in clean_state_dict(model.state_dict()).items()
                if v.dtype in (paddle.float32, paddle.float64, paddle.float16)}

    def current_decay(self):
        return min(self.decay, (1.0 + self.step) / (10.0 + self.step))

    def update(self, model):
        d = self.current_decay()
        with paddle.no_grad():
            for k, v in self._floats(model).items():
                self.state[k] = self.state[k] * d + v.detach() * (1.0 - d)
        self.step += 1

    @contextlib.contextmanager
    def applied(self, model):
        """Inside the block ``model`` holds the averaged weights; afterwards its own again."""
        raw = {k: v.detach().clone() for k, v in self._floats(model).items()}
        model.set_state_dict(self.state)
        try:
            yield model
        finally:
            model.set_state_dict(raw)

    # -- checkpoints --------------------------------------------------------------
    @staticmethod
    def path(weights_path):
        return os.path.splitext(str(weights_path))[0] + EMA_SUFFIX

    def save(self, model, weights_path, save_id=None, write=atomic_paddle_save):
        """Next to a checkpoint whose ``.pdparams`` holds the averaged weights: the raw
        training weights, the step count and the save's id (see
        :func:`ppdet.utils.checkpoint.new_save_id`).  ``write``: the writer of the
        checkpoint's :func:`~ppdet.utils.checkpoint.file_set`, so that it is saved with it."""
        raw = {k: v.detach().clone() for k, v in clean_state_dict(model.state_dict()).items()}
        write({'raw': raw, 'step': self.step, 'save_id': save_id}, self.path(weights_path))

    def resume(self, model, weights_path, save_id=None, saved_with_ema=None):
        """``model`` holds the checkpoint's (averaged) weights: take them as the average and
        put the raw training weights back into the model.  ``save_id`` / ``saved_with_ema``:
        what the weights file's record says (a ``.pdema`` of another save, or missing from
        a save made with EMA, is an interrupted save)."""
        self.state = {k: v.detach().clone() for k, v in self._floats(model).items()}
        path = self.path(weights_path)
        if not os.path.isfile(path):
            if saved_with_ema:
                raise interrupted_save(weights_path, 'raw EMA weights (.pdema)')
            raise FileNotFoundError(
                '%s not found: this checkpoint was saved without use_ema, so its raw training '
                'weights are missing; resume it with -o use_ema=false, or start a new run '
                'from it with -o pretrain_weights=%s' % (path, weights_path))
        saved = paddle.load(path)
        if save_id and saved.get('save_id') != save_id:
            raise interrupted_save(weights_path, 'raw EMA weights (.pdema)',
                                   saved.get('save_id') or 'an older save')
        model.set_state_dict(saved['raw'])
        self.step = int(saved['step'])
