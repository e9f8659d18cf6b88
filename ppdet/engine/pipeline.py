"""The main job: the whole pipeline on the built-in dataset, stage by stage.

Each stage writes its outputs under ``work_dir`` and records its numbers in
``results.json`` (atomically), and is skipped when its outputs already exist,
so an interrupted run continues where it stopped.  ``--fresh`` starts over.
"""
import copy
import os
import time

from ppdet.core.workspace import load_config
from ppdet.utils.fileio import read_json, write_json
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)


class Pipeline(object):
    def __init__(self, config, work_dir='output/pipeline', dataset_dir='dataset/builtin',
                 overrides=None):
        self.config = config
        self.overrides = list(overrides or [])
        self.work_dir = work_dir
        self.dataset_dir = dataset_dir
        self.results_path = os.path.join(work_dir, 'results.json')
        self.results = read_json(self.results_path) if os.path.isfile(self.results_path) else {}

    # -- helpers -----------------------------------------------------------------
    def cfg(self, extra=()):
        cfg = load_config(self.config, overrides=self.overrides + list(extra))
        cfg['save_dir'] = self.work_dir
        return cfg

    def record(self, key, value):
        self.results[key] = value
        write_json(self.results_path, self.results)

    def stage(self, name, fn):
        if name in self.results.get('_done', []):
            logger.info('[%s] already done (see %s); skipping', name, self.results_path)
            return
        logger.info('[%s] starting', name)
        tic = time.time()
        fn()
        done = self.results.get('_done', []) + [name]
        self.record('_done', done)
        self.record('time_%s_s' % name, round(time.time() - tic, 1))
        logger.info('[%s] done in %.1f s', name, time.time() - tic)

    # -- stages ------------------------------------------------------------------
    def gen_data(self):
        from ppdet.data.synthetic import generate_dataset
        generate_dataset(self.dataset_dir)

    def train_baseline(self):
        from ppdet.engine import Trainer
        cfg = self.cfg()
        trainer = Trainer(cfg, mode='train')
        trainer.save_dir = os.path.join(self.work_dir, 'baseline')
        latest = os.path.join(trainer.save_dir, 'latest.pdparams')
        if os.path.isfile(latest):
            trainer.resume(latest)
        trainer.train(validate=False)
        self.record('baseline_weights', os.path.join(trainer.save_dir, 'model_final'))

    def eval_baseline(self):
        from ppdet.engine import Trainer
        from ppdet.utils.model_stats import count_flops, gflops, param_size_mb
        cfg = self.cfg()
        trainer = Trainer(cfg, mode='eval')
        trainer.load_weights(self.results['baseline_weights'])
        stats = trainer.evaluate(output_eval=os.path.join(self.work_dir, 'baseline'))['bbox']
        size = _eval_size(cfg)
        self.record('baseline', {
            'AP': float(stats[0]), 'AP50': float(stats[1]),
            'GFLOPs': gflops(count_flops(trainer.model, size)), 'size_MB': param_size_mb(trainer.model),
            'input_size': size})

    def export_baseline(self):
        from ppdet.data import build_dataset
        from ppdet.engine import Trainer
        from ppdet.engine.export import export_model
        cfg = self.cfg()
        trainer = Trainer(cfg, mode='test')
        meta = trainer.load_weights(self.results['baseline_weights'])
        out = os.path.join(self.work_dir, 'inference', 'baseline')
        export_model(trainer.model, cfg, out, build_dataset(cfg, 'TestDataset').label_list(),
                     meta=meta)
        self.record('baseline_inference', out)

    def infer_one(self):
        from ppdet.engine import Trainer
        cfg = self.cfg()
        image = _first_val_image(cfg)
        trainer = Trainer(cfg, mode='test')
        trainer.load_weights(self.results['baseline_weights'])
        res = trainer.predict([image], output_dir=os.path.join(self.work_dir, 'infer'))
        self.record('infer_image', os.path.join(self.work_dir, 'infer', os.path.basename(image)))
        self.record('infer_detections', int((res[0]['bbox'][:, 1] >= 0.5).sum()))

    def run(self):
        self.stage('data', self.gen_data)
        self.stage('train', self.train_baseline)
        self.stage('eval', self.eval_baseline)
        self.stage('export', self.export_baseline)
        self.stage('infer', self.infer_one)
        return self.results


def _eval_size(cfg):
    for t in (cfg.get('EvalReader') or {}).get('sample_transforms', []):
        if 'Resize' in t:
            return int(t['Resize']['target_size'][0])
    raise ValueError('EvalReader has no Resize transform; cannot tell the input size')


def _first_val_image(cfg):
    from ppdet.data import build_dataset
    ds = build_dataset(copy.deepcopy(cfg), 'EvalDataset')
    return sorted(ds.get_imid2path().values())[0]


def format_results(results):
    """Markdown summary of what the pipeline measured."""
    lines = ['| model | GFLOPs | size (MB) | input | AP | AP50 |', '|---|---|---|---|---|---|']
    for key in ('baseline',):
        r = results.get(key)
        if r:
            lines.append('| %s | %.3f | %.2f | %d | %.3f | %.3f |' % (
                key, r['GFLOPs'], r['size_MB'], r['input_size'], r['AP'], r['AP50']))
    if 'infer_image' in results:
        lines.append('')
        lines.append('detections drawn on %s (%d with score >= 0.5)' % (
            results['infer_image'], results.get('infer_detections', 0)))
    return '\n'.join(lines)
