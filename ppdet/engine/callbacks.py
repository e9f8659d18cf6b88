"""Trainer hooks.  Compression methods plug in here instead of forking the loop."""
import datetime
import os
import time

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
    of a 3-epoch fine-tune had no checkpoint and started that fine-tune over."""

    def __init__(self, trainer):
        super().__init__(trainer)
        self.best = -1.0

    def on_epoch_end(self, status):
        t = self.trainer
        if not t.is_main_process:
            return
        epoch = status['epoch_id'] + 1
        t.save(os.path.join(t.save_dir, 'latest'), epoch)
        if epoch % t.cfg.get('snapshot_epoch', 1) == 0 or epoch == status['epochs']:
            t.save(os.path.join(t.save_dir, str(epoch)), epoch)
            key = status.get('eval_key')
            if key is not None and status.get('eval_value', -1) > self.best:
                self.best = status['eval_value']
                t.save(os.path.join(t.save_dir, 'best_model'), epoch)
                logger.info('best %s so far: %.4f (epoch %d)', key, self.best, epoch)

    def on_train_end(self, status):
        t = self.trainer
        if t.is_main_process:
            path = t.save(os.path.join(t.save_dir, 'model_final'), status['epochs'])
            logger.info('saved final weights to %s', path)
