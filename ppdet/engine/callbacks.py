"""Trainer hooks.  Compression methods plug in here instead of forking the loop."""
import datetime
import os
import time

from ppdet.utils.checkpoint import read_meta, weights_file
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)


class Callback(object):
    def __init__(self, trainer):
        self.trainer = trainer

    def on_train_begin(self, status):
        pass

    def on_step_end(self, status):
        pass

    def on_epoch_end(self, status):
        pass

    def on_train_end(self, status):
        pass


class ComposeCallback(Callback):
    def __init__(self, callbacks):
        self.callbacks = [c for c in callbacks if c is not None]

    def _each(self, hook, status):
        for c in self.callbacks:
            getattr(c, hook)(status)

    def on_train_begin(self, status):
        self._each('on_train_begin', status)

    def on_step_end(self, status):
        self._each('on_step_end', status)

    def on_epoch_end(self, status):
        self._each('on_epoch_end', status)

    def on_train_end(self, status):
        self._each('on_train_end', status)


class EMAUpdater(Callback):
    """Moves the trainer's weight average after every optimizer step (``use_ema``)."""

    def on_step_end(self, status):
        self.trainer.update_ema()


class LogPrinter(Callback):
    """Logs losses, lr, speed and the ETA every ``log_iter`` steps."""

    def on_train_begin(self, status):
        self.start = time.time()
        self.done_at_start = status['epoch_id'] * status['steps_per_epoch']

    def on_step_end(self, status):
        step, spe = status['step_id'], status['steps_per_epoch']
        log_iter = self.trainer.cfg.get('log_iter', 20)
        if (step + 1) % log_iter and step + 1 != spe:
            return
        done = status['epoch_id'] * spe + step + 1 - self.done_at_start
        total = status['epochs'] * spe - self.done_at_start
        elapsed = time.time() - self.start
        eta = elapsed / max(done, 1) * (total - done)
        losses = ' '.join('%s: %.4f' % (k, v) for k, v in status['losses'].items())
        logger.info('epoch %d/%d iter %d/%d lr %.6f %s  %.2f s/it  eta %s',
                    status['epoch_id'] + 1, status['epochs'], step + 1, spe, status['lr'],
                    losses, elapsed / max(done, 1),
                    str(datetime.timedelta(seconds=int(eta))))


class Checkpointer(Callback):
    """Saves ``<save_dir>/latest`` after every epoch (what an interrupted run resumes
    from), ``<save_dir>/<epoch>`` every ``snapshot_epoch`` epochs, ``model_final`` at the
    end, and ``best_model`` when evaluation during training improves.

    ``latest`` is saved every epoch whatever ``snapshot_epoch`` says: with it tied to the
    snapshots (every 4 epochs in the built-in configs), ``make demo`` interrupted in the last
    of a 3-epoch fine-tune had no checkpoint and started that fine-tune over.

    Every evaluated epoch is a candidate for ``best_model``, snapshot epoch or not (with
    ``eval_interval`` < ``snapshot_epoch`` only snapshot epochs were).  ``best_model``'s record
    holds its score (``best``: metric, score, epoch); a run that resumes a checkpoint of its
    own ``save_dir`` starts from it, so a resume never replaces a better ``best_model`` (the
    best score started at -1 on every start: the first evaluation after a resume won)."""

    def __init__(self, trainer):
        super().__init__(trainer)
        self.best = None  # {'metric', 'score', 'epoch'} of best_model
        self.unscored_warned = False

    def on_train_begin(self, status):
        if self.trainer.is_main_process and self.trainer.resumed_from:
            self.best = self._resumed_best()

    def _resumed_best(self):
        """The record of ``<save_dir>/best_model`` when this run resumes a checkpoint of
        ``save_dir`` (the interrupted run goes on: its best so far still counts); None for a
        resume from elsewhere, whose checkpoints go to a new save_dir."""
        t = self.trainer
        own = os.path.abspath(t.save_dir)
        path = os.path.join(own, 'best_model.pdparams')
        if (os.path.dirname(os.path.abspath(weights_file(t.resumed_from))) != own
                or not os.path.isfile(path)):
            return None
        try:
            best = read_meta(path).get('best')
        except ValueError:  # unreadable: the first scored evaluation replaces it
            return None
        if not best:  # saved before records held the score
            return None
        if best['epoch'] > t.start_epoch:  # resumed from an older snapshot
            logger.warning('%s is from epoch %d, after the resume point (epoch %d): it is kept '
                           '(%s %.4f) and replaced only by an epoch that scores higher; delete '
                           'it to start the best over', path, best['epoch'], t.start_epoch,
                           best['metric'], best['score'])
        else:
            logger.info('resuming with the best_model of epoch %d (%s %.4f): an epoch replaces '
                        'it only with a higher %s', best['epoch'], best['metric'],
                        best['score'], best['metric'])
        return best

    def on_epoch_end(self, status):
        t = self.trainer
        if not t.is_main_process:
            return
        epoch = status['epoch_id'] + 1
        t.save(os.path.join(t.save_dir, 'latest'), epoch)
        if epoch % t.cfg.get('snapshot_epoch', 1) == 0 or epoch == status['epochs']:
            t.save(os.path.join(t.save_dir, str(epoch)), epoch)
        if status.get('eval_key') is not None:
            self._check_best(status['eval_key'], status.get('eval_value'), epoch)

    def _check_best(self, key, value, epoch):
        """Every evaluated epoch is a candidate, snapshot epoch or not."""
        if not value >= 0:  # -1 (or nan): the metric had nothing to score against
            if self.best is None and not self.unscored_warned:
                self.unscored_warned = True
                logger.warning('no evaluation gave a score (%s %.4f at epoch %d: the eval set '
                               'has no annotations?): best_model is not saved', key, value,
                               epoch)
            return
        if self.best is not None and self.best['metric'] != key:
            logger.warning('best_model was scored by %s, this run evaluates %s: the scores do '
                           'not compare, this run\'s best replaces it', self.best['metric'], key)
            self.best = None
        if self.best is None or value > self.best['score']:
            self.best = {'metric': key, 'score': float(value), 'epoch': epoch}
            t = self.trainer     # the score goes into best_model's record
            t.save(os.path.join(t.save_dir, 'best_model'), epoch, extra_meta={'best': self.best})
            logger.info('best %s so far: %.4f (epoch %d)', key, value, epoch)

    def on_train_end(self, status):
        t = self.trainer
        if t.is_main_process:
            path = t.save(os.path.join(t.save_dir, 'model_final'), status['epochs'])
            logger.info('saved final weights to %s', path)
