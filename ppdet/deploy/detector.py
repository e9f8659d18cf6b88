"""Images in, detections out: preprocessing + a predictor + per-stage timing."""
import time

import numpy as np

from .benchmark import StageTimer
from .compare import split_by_image
from .infer_cfg import load_infer_cfg, require_nms
from .predictors import create_predictor
from .preprocess import Preprocessor

__all__ = ['Detector']


class Detector(object):
    """``Detector(model_dir, run_mode=..., ...).predict([rgb, ...])`` -> per-image [k,6] rows.

    Keyword arguments go to :func:`~ppdet.deploy.predictors.create_predictor`.  A
    quantized export (``quantized: true`` in infer_cfg.yml) run with Paddle on the CPU gets
    oneDNN int8 kernels unless ``enable_mkldnn_int8=False`` is given.
    """

    def __init__(self, model_dir, run_mode='paddle', **predictor_kw):
        self.model_dir = model_dir
        self.infer_cfg = load_infer_cfg(model_dir)
        require_nms(model_dir, self.infer_cfg, 'the detector',
                    ' or use create_predictor() for the raw outputs')
        if predictor_kw.get('enable_mkldnn_int8') is None:
            predictor_kw['enable_mkldnn_int8'] = bool(self.infer_cfg.get('quantized'))
        self.labels = list(self.infer_cfg.get('label_list') or [])
        self.preprocess = Preprocessor(self.infer_cfg)
        self.predictor = create_predictor(model_dir, run_mode, **predictor_kw)
        self.timer = StageTimer()

    def predict(self, images_rgb, repeats=1, pause_s=0.0):
        """Detect on a batch of RGB uint8 images.

        ``repeats`` > 1 runs the whole pipeline (preprocess, inference, postprocess) that
        many times, each stage and the ``end_to_end`` time recorded per run, so the stage
        means add up to the end-to-end mean (:func:`~ppdet.deploy.benchmark.stage_split`).
        ``pause_s``: a sleep before each run, outside the timer (a model called now and
        then starts with its data out of the caches; back to back it does not).
        """
        for _ in range(max(1, int(repeats))):
            if pause_s > 0:
                time.sleep(pause_s)
            with self.timer.stage('end_to_end'):
                with self.timer.stage('preprocess'):
                    inputs = self.preprocess(images_rgb)
                with self.timer.stage('inference'):
                    outputs = self.predictor.run(inputs)
                with self.timer.stage('postprocess'):
                    rows = [np.asarray(r[r[:, 0] >= 0], np.float32) for r in split_by_image(
                        outputs['bbox'], outputs['bbox_num'])]
        return rows

    def warm_up(self, images_rgb, runs):
        """``runs`` untimed passes of the whole pipeline (the timer is left as it was)."""
        if runs <= 0:
            return
        timer, self.timer = self.timer, StageTimer()
        try:
            self.predict(images_rgb, runs)
        finally:
            self.timer = timer

    def peak_memory_mb(self):
        return self.predictor.peak_memory_mb()

    def close(self):
        self.predictor.close()
