"""The dense-detector pipeline (``tools/pipeline.py --model retinanet`` / ``--model fcos``):
the main job's stages for the small RetinaNet and FCOS of ``configs/builtin/`` on the built-in
COCO set (the same data as the YOLOv3 main job), in one resumable ``results.json``.

Rows, each exported with NMS inside and scored by COCO AP on the built-in val set:

* ``baseline``: the config trained here (``-o epoch=N`` shortens it);
* ``uniform_p40`` / ``derived_p40``: pruned to the FLOPs cut of removing 40% of the filters
  of every prunable conv (the FPN and the shared head towers; the float-only output convs are
  never pruned), by one uniform ratio and by ratios derived from the fast sensitivities, each
  fine-tuned on the fine-tuning schedule (``--finetune_epochs``) once per ``--seeds`` (default
  0; the other seeds' rows, ``<row>_seed<N>``, are scored, not exported);
* ``student_alone``: their twin, the baseline fine-tuned unpruned on the same schedule;
* ``post_<algo>``: post-training int8 (calibrated on training images), scored deployed;
* ``finetuned`` / ``aware``: the baseline fine-tuned on the QAT schedule and LR without and
  with quantization-aware training (the fp32 twin isolates what quantization costs);
* ``uniform_p40_distill``: the uniformly pruned checkpoint fine-tuned with the trained
  baseline as teacher, through the families' fine-grained dense-head loss
  (:mod:`ppdet.modeling.losses.dense_distill_loss`: soft-target focal BCE on the class logits,
  GIoU to the teacher's boxes and, for FCOS, centerness, weighted by the teacher's class
  probability), against its undistilled twin ``uniform_p40``.

Then CPU latency of every row (Paddle fp32, Paddle int8 for the int8 rows, onnxruntime fp32
where the export converts; a runtime that cannot run a row is recorded with its reason).
"""
from ppdet.modeling.architectures.dense_detector import DenseDetector
from ppdet.pipeline.main_job import Pipeline, format_seed_spread
from ppdet.pipeline.results_table import format_distill_comparison, rows_with_latency
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

DENSE_CONFIGS = {'retinanet': 'configs/builtin/retinanet_r18_builtin.yml',
                 'fcos': 'configs/builtin/fcos_r18_builtin.yml'}
# the prune rows' FLOPs target: the cut of removing DENSE_PRUNE_RATIO of every prunable
# conv's filters (as the face job)
DENSE_PRUNE_RATIO = 0.4
DENSE_PRUNE_TARGET = 'p40'
DENSE_PRUNE_PLANS = ('uniform', 'derived')
DENSE_PTQ_ALGOS = ('abs_max',)
# The dense-head distillation terms are each normalised by the teacher's summed class
# probability, like the detection losses by the number of positives: weight 1 puts them on
# the detection loss's scale (YOLOv3's default, 1000, swamps it).  The families' own default
# (DenseDetector.distill_weights, what slim/distillation/distill.py uses unset).
DENSE_DISTILL_LOSS = 'fine_grained'
DENSE_DISTILL_WEIGHT = DenseDetector.distill_weights[DENSE_DISTILL_LOSS]
DENSE_LATENCY_RUNTIMES = ('paddle_fp32', 'paddle_int8', 'onnx_fp32')
QAT_LR = 0.0003   # QAT and its fp32 twin (the main job's value)


class DensePipeline(Pipeline):
    default_prune_seeds = (0,)
    teacher_is_baseline = True

    def __init__(self, config=DENSE_CONFIGS['retinanet'], work_dir='output/retinanet_pipeline',
                 dataset_dir='dataset/builtin', ptq_algos=DENSE_PTQ_ALGOS, latency_repeats=20,
                 latency_runtimes=DENSE_LATENCY_RUNTIMES, **kwargs):
        kwargs.setdefault('distill_weights', {DENSE_DISTILL_LOSS: DENSE_DISTILL_WEIGHT})
        super().__init__(config, work_dir=work_dir, dataset_dir=dataset_dir,
                         teacher_config=config, **kwargs)
        self.ptq_algos = tuple(ptq_algos)
        self.latency_repeats = int(latency_repeats)
        self.latency_runtimes = tuple(latency_runtimes)

    # -- stages ----------------------------------------------------------------------
    def prune_plans(self):
        self.prune_plans_at_ratio(DENSE_PRUNE_RATIO, DENSE_PRUNE_TARGET)

    def distill_pruned(self):
        """The uniformly pruned checkpoint fine-tuned with the trained baseline as teacher
        (same family, levels and anchors: the fine-grained loss compares the heads location
        by location); its twin is ``uniform_p40`` (same checkpoint and schedule, no teacher)."""
        self.record('teacher', {'weights': self.results['baseline_weights'],
                                'config': self.config})
        student = self.path('prune_uniform_%s' % DENSE_PRUNE_TARGET, 'pruned_no_finetune')
        self.distill('uniform_%s_distill' % DENSE_PRUNE_TARGET, DENSE_DISTILL_LOSS,
                     student=student, twin='uniform_%s' % DENSE_PRUNE_TARGET)

    def latency(self):
        self.latency_rows(self.latency_runtimes, repeats=self.latency_repeats)

    def run(self):
        self.run_opening_stages()
        self.run_ratio_prune_stages(DENSE_PRUNE_TARGET, DENSE_PRUNE_PLANS)
        for algo in self.ptq_algos:
            self.stage('quant:post_%s' % algo, lambda a=algo: self.post_quant('baseline', a))
        self.stage('quant:finetuned', lambda: self.finetuned('baseline', lr=QAT_LR))
        self.stage('quant:aware', lambda: self.aware('baseline', lr=QAT_LR))
        self.stage('distill:pruned', self.distill_pruned)
        self.stage('latency', self.latency)
        return self.results


ROW_NOTES = {'baseline': 'trained here', 'student_alone': 'baseline fine-tuned, unpruned '
             '(twin of the pruned rows)', 'finetuned': 'baseline fine-tuned at the QAT LR '
             "(aware's fp32 twin)", 'aware': 'QAT, deployed int8'}


def _note(name, row):
    if name in ROW_NOTES:
        return ROW_NOTES[name]
    if row.get('distill'):
        return 'pruned + fine-tuned with the baseline as teacher (%s, weight %g)' % (
            row['distill'], row.get('distill_weight', 0))
    if row.get('plan'):
        return '%s plan, -%.1f%% FLOPs, fine-tuned' % (row['plan'], 100 * row['flops_cut'])
    if row.get('quantized'):
        return 'post-training int8 (%s), deployed' % row['quantized'][len('post_'):]
    return ''


def dense_results_table(results):
    """Markdown: every row's AP, AP50, GFLOPs, size and CPU latency (Paddle fp32 / int8,
    onnxruntime fp32), then why a runtime did not run where one did not."""
    lat = results.get('latency') or {}
    lines = ['| model | what | GFLOPs | size (MB) | input | AP | AP50 | AP after pruning | '
             'Paddle fp32 (ms) | Paddle int8 (ms) | onnxruntime fp32 (ms) |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for key, r, f in rows_with_latency(results):
        lines.append('| %s | %s | %.4f | %.2f | %d | %.4f | %.4f | %s | %s | %s | %s |' % (
            key, _note(key, r), r['GFLOPs'], r['size_MB'], r['input_size'], r['AP'],
            r.get('AP50', float('nan')),
            '%.4f' % r['AP_after_prune'] if 'AP_after_prune' in r else '-',
            f('paddle_fp32'), f('paddle_int8'), f('onnx_fp32')))
    reasons = {}
    for kind in ('unavailable', 'failed'):
        for row, per_rt in (lat.get(kind) or {}).items():
            for rt, why in (per_rt or {}).items():
                reasons.setdefault((rt, kind, str(why)), []).append(row)
    if reasons:
        lines.append('')
        for (rt, kind, why), rows in sorted(reasons.items()):
            lines.append('- %s %s on %s: %s' % (rt, kind, ', '.join(rows), why))
    if lat.get('settings'):
        s = lat['settings']
        lines += ['', 'Latency: %s, %d thread(s), batch 1, median of %d, rows timed '
                  'interleaved (%s).' % (s.get('cpu'), s.get('threads', 1), s.get('repeats', 0),
                                         s.get('date'))]
    seeds = format_seed_spread(results, DENSE_PRUNE_TARGET, DENSE_PRUNE_PLANS)
    for extra in (format_distill_comparison(results), seeds):
        if extra:
            lines += ['', extra]
    return '\n'.join(lines)
