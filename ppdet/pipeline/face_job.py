"""The face pipeline (``tools/pipeline.py --model blazeface``): the main job's stages on the
built-in face set (WIDER FACE layout and evaluation, Easy / Medium / Hard AP).

Rows, each exported with NMS inside and scored by the official WIDER FACE evaluation:

* ``baseline``: BlazeFace (the built-in config's BlazeFace-NAS widths) trained here;
* ``uniform_p40`` / ``derived_p40``: pruned to the FLOPs cut of removing 40% of the filters
  of every prunable BlazeBlock conv, by one uniform ratio and by ratios derived from the
  sensitivities, each fine-tuned on the fine-tuning schedule once per ``--seeds`` (default 0;
  the other seeds' rows, ``<row>_seed<N>``, are scored, not exported);
* ``student_alone``: their twin, the baseline fine-tuned on the same schedule unpruned;
* ``post_<algo>``: post-training int8 (calibrated on training images), scored deployed;
* ``finetuned`` / ``aware``: the baseline fine-tuned on the QAT schedule without and with
  quantization-aware training (the fp32 twin isolates what quantization costs);
* ``uniform_p40_distill``: the pruned student fine-tuned with the baseline as teacher (L2 on
  the head outputs), against its undistilled twin ``uniform_p40``;
* ``lite`` / ``lite_post_<algo>`` / ``lite_finetuned`` / ``lite_aware``: BlazeFace-Lite
  trained from scratch on the baseline's schedule, its int8 model (the first PTQ algorithm),
  and the model fine-tuned on the QAT schedule without / with QAT;
* ``lite_post_mse`` / ``lite_post_mse_adds``: its int8 model (mse PTQ) without / with its
  residual adds in int8 (``quantize_residual_adds``: the backbone runs as one int8 chain);
  ``lite_aware_adds``: ``lite_aware`` with its residual adds quantized too (same schedule),
  ``lite_aware_adds_int8_head``: and its four declared float-only head convs too (only
  when ``--stages`` names it: measured, it costs AP);
* ``lite_distill`` / ``lite_alone``: the seed's BlazeFace -> Lite distillation (teacher: the
  ``student_alone`` BlazeFace, L2 on the head outputs at LITE_DISTILL_WEIGHT) and its twin.  It has no pruned row:
  like MediaPipe's, its blocks are all single residual BlazeBlocks and it declares no
  prunable convs;
* ``mediapipe``, ``mediapipe_post_<algo>``, ``mediapipe_finetuned`` / ``mediapipe_aware``:
  MediaPipe's released BlazeFace (real weights, imported from the committed ONNX file), its
  post-training int8 model, and the model fine-tuned on the face set without / with QAT
  (its loss trains boxes and scores; keypoints have no targets).  It has no pruned row: it
  declares no prunable convs (every conv output feeds its residual chain).

Then CPU latency of every row (Paddle fp32 / int8, onnxruntime), and on real photos
(scikit-image) how many of the imported model's fp32 detections its int8 model keeps.
"""

from ppdet.pipeline.main_job import Pipeline, format_seed_spread
from ppdet.pipeline.results_table import format_distill_comparison, rows_with_latency
from ppdet.utils.logger import setup_logger

logger = setup_logger(__name__)

FACE_CONFIG = 'configs/face_detection/blazeface_builtin.yml'
MEDIAPIPE_CONFIG = 'configs/face_detection/mediapipe_blazeface_builtin.yml'
LITE_CONFIG = 'configs/face_detection/blazeface_lite_builtin.yml'
# the prune rows' FLOPs target: the cut of removing FACE_PRUNE_RATIO of every prunable
# conv's filters (0.5 is the sensitivity probes' largest ratio: the derived plan could not
# reach its cut when rounding left a probe just short)
FACE_PRUNE_RATIO = 0.4
FACE_PRUNE_TARGET = 'p40'
FACE_PRUNE_PLANS = ('uniform', 'derived')
# not 'avg': Paddle 2.6.2's avg sampling reshapes every sampled activation by its first
# dimension and fails on BlazeFace's 0-d tensors (IndexError in _sample_avg)
FACE_PTQ_ALGOS = ('abs_max', 'hist')
# the algorithm of Lite's residual-adds twin rows: with abs_max the adds' scales follow the
# largest activation seen and Lite lost 5.5 Easy AP at 32 calibration images; mse kept it
# (benchmarks/results/second_cpu/int8_adds/lite_ap_sweep.txt)
LITE_ADDS_ALGO = 'mse'
FACE_DISTILL_WEIGHT = 10.0
# BlazeFace -> Lite: at 10 the L2 term was ~8x the detection loss (41 of 46.1, uniform_p40's
# distillation, which collapsed); 1 puts it on the detection loss's scale
LITE_DISTILL_WEIGHT = 1.0
# lite_x86: the Paddle-Lite x86 .nb (make lite-env), a correctness check against Paddle
# Inference; recorded as unavailable where the Lite environment is missing
FACE_LATENCY_RUNTIMES = ('paddle_fp32', 'paddle_int8', 'onnx_fp32', 'lite_x86')
QAT_LR = 0.0003            # QAT and its fp32 twin (the main job's value)
MEDIAPIPE_LR = 0.0001      # the released model is adjusted, not retrained
PHOTO_CANVASES = 10   # extra LFW canvases (4 faces each) beside the three hand-boxed photos


class FacePipeline(Pipeline):
    dataset_subdir = ''
    data_sections = ('TrainDataset', 'EvalDataset')   # TestDataset: the face label list
    default_prune_seeds = (0,)
    teacher_is_baseline = True

    def __init__(self, config=FACE_CONFIG, work_dir='output/face_pipeline',
                 dataset_dir='dataset/wider_face_builtin', mediapipe_config=MEDIAPIPE_CONFIG,
                 lite_config=LITE_CONFIG,
                 ptq_algos=FACE_PTQ_ALGOS, latency_repeats=20, photo_canvases=PHOTO_CANVASES,
                 **kwargs):
        kwargs.setdefault('calib_images', 32)
        kwargs.setdefault('distill_weights', {'l2': FACE_DISTILL_WEIGHT})
        super().__init__(config, work_dir=work_dir, dataset_dir=dataset_dir,
                         teacher_config=config, **kwargs)
        self.mediapipe_config = mediapipe_config
        self.lite_config = lite_config
        self.ptq_algos = tuple(ptq_algos)
        self.latency_repeats = int(latency_repeats)
        self.photo_canvases = int(photo_canvases)

    def configs(self):
        return super().configs() + [('the MediaPipe config', self.mediapipe_config),
                                    ('the Lite config', self.lite_config)]

    def mp_cfg(self):
        return self.cfg(config=self.mediapipe_config)

    # -- stages ----------------------------------------------------------------------
    def gen_data(self):
        from ppdet.data.synthetic_faces import generate_face_dataset
        generate_face_dataset(self.dataset_dir, **self.dataset_kwargs)

    def prune_plans(self):
        """Uniform and sensitivity-derived ratios at the cut of removing FACE_PRUNE_RATIO of
        every prunable conv's filters (recorded like the main job's plans)."""
        self.prune_plans_at_ratio(FACE_PRUNE_RATIO, FACE_PRUNE_TARGET)

    def finetuned(self, source='baseline', config=None, lr=QAT_LR):
        """The fp32 twin of ``aware``: ``source`` fine-tuned on the QAT schedule and LR."""
        name = 'finetuned' if source == 'baseline' else '%s_finetuned' % source
        cfg = self._finetune_cfg(['LearningRate.base_lr=%g' % lr], config=config)
        base = self.results[source]['weights']
        weights = self.train(name, cfg, lambda t: t.load_weights(base))
        self.evaluate(name, weights, cfg, extra={'parent': source})

    def distill_pruned(self):
        """The uniformly pruned checkpoint fine-tuned with the baseline as teacher; its twin
        is the ``uniform_p40`` row (same checkpoint, same schedule, no teacher)."""
        self.record('teacher', {'weights': self.results['baseline_weights'],
                                'config': self.config})
        student = self.path('prune_uniform_%s' % FACE_PRUNE_TARGET, 'pruned_no_finetune')
        self.distill('uniform_%s_distill' % FACE_PRUNE_TARGET, 'l2', student=student,
                     twin='uniform_%s' % FACE_PRUNE_TARGET)

    def distill_lite(self):
        """The seed's BlazeFace -> BlazeFace-Lite pairing: the trained Lite fine-tuned with the
        strongest BlazeFace trained here (``student_alone``) as teacher, L2 on the head
        outputs (same priors, so the outputs pair one to one); its twin ``lite_alone`` is the
        same schedule without the teacher."""
        self.distill('lite_distill', 'l2', student=self.results['lite']['weights'],
                     config=self.lite_config, teacher=self.results['student_alone']['weights'],
                     weight=LITE_DISTILL_WEIGHT, twin='lite_alone')

    def train_lite(self):
        """BlazeFace-Lite trained from scratch on the baseline's schedule."""
        cfg = self.cfg(config=self.lite_config)
        self.evaluate('lite', self.train('lite', cfg), cfg)

    def import_mediapipe(self):
        from ppdet.modeling.importers.mediapipe_blazeface import save_imported_checkpoint
        cfg = self.mp_cfg()
        prefix = self.path('mediapipe', 'model_final')
        save_imported_checkpoint(cfg, prefix)
        self.evaluate('mediapipe', prefix, cfg, extra={'imported_from': 'MediaPipe ONNX'})

    def mediapipe_post(self, algo):
        self.post_quant('mediapipe', algo, name='mediapipe_post_%s' % algo, cfg=self.mp_cfg())

    def latency(self):
        """CPU latency of every exported row (1 thread, batch 1, interleaved, median) on
        Paddle fp32 / int8, onnxruntime and the Lite x86 .nb, each row at its own input size."""
        self.latency_rows(FACE_LATENCY_RUNTIMES, self.latency_repeats)

    def photos(self):
        """On real photos: the imported model's fp32 detections (score >= 0.5) and how many
        each int8 model keeps (same class, IoU >= 0.5), through the exported models."""
        from ppdet.data.sample_photos import face_photos
        from ppdet.deploy.compare import detection_agreement
        photos = face_photos(extra_lfw_canvases=self.photo_canvases)
        ref = _run_exported(self.results['mediapipe']['inference_dir'], photos)
        out = {'photos': sorted(photos), 'score_threshold': 0.5, 'iou_threshold': 0.5}
        runs = {'mediapipe': ref}
        # (int8 row, its fp32 reference): PTQ against the imported model; QAT against the
        # imported model and against its fp32 twin fine-tuned on the same schedule
        pairs = [('mediapipe_post_%s' % a, 'mediapipe') for a in self.ptq_algos] + \
            [('mediapipe_aware', 'mediapipe'), ('mediapipe_aware', 'mediapipe_finetuned'),
             ('mediapipe_finetuned', 'mediapipe')]
        for name, ref_name in pairs:
            if not all('inference_dir' in self.results.get(n, {}) for n in (name, ref_name)):
                continue
            for n in (name, ref_name):
                if n not in runs:
                    runs[n] = _run_exported(self.results[n]['inference_dir'], photos)
            agree = detection_agreement(runs[ref_name], runs[name],
                                        {'iou_thresh': 0.5, 'score_thresh': 0.5})
            key = name if ref_name == 'mediapipe' else '%s_vs_%s' % (name, ref_name)
            out[key] = dict({k: agree[k] for k in ('n_ref', 'n', 'matched', 'matched_fraction',
                                                   'mean_iou', 'max_score_diff')},
                            reference=ref_name)
            logger.info('%s keeps %d of the %d detections of %s on %d real photos', name,
                        agree['matched'], agree['n_ref'], ref_name, len(photos))
        self.record('photos', out)

    def run(self):
        self.run_opening_stages(('import', self.import_mediapipe))
        self.run_ratio_prune_stages(FACE_PRUNE_TARGET, FACE_PRUNE_PLANS)
        for algo in self.ptq_algos:
            self.stage('quant:post_%s' % algo, lambda a=algo: self.post_quant('baseline', a))
            self.stage('quant:mediapipe_post_%s' % algo, lambda a=algo: self.mediapipe_post(a))
        self.stage('quant:finetuned', self.finetuned)
        self.stage('quant:aware', lambda: self.aware('baseline', lr=QAT_LR))
        mp = dict(config=self.mediapipe_config, lr=MEDIAPIPE_LR)
        self.stage('quant:mediapipe_finetuned', lambda: self.finetuned('mediapipe', **mp))
        self.stage('quant:mediapipe_aware', lambda: self.aware('mediapipe', **mp))
        self.stage('distill:pruned', self.distill_pruned)
        self.stage('lite:train', self.train_lite)
        self.stage('lite:post', lambda: self.post_quant(
            'lite', self.ptq_algos[0], name='lite_post_%s' % self.ptq_algos[0],
            cfg=self.cfg(config=self.lite_config)))
        for adds in (False, True):
            row = 'lite_post_%s%s' % (LITE_ADDS_ALGO, '_adds' if adds else '')
            self.stage('lite:' + row[len('lite_'):], lambda a=adds, r=row: self.post_quant(
                'lite', LITE_ADDS_ALGO, name=r, cfg=self.cfg(config=self.lite_config),
                residual_adds=a))
        lite = dict(config=self.lite_config, lr=QAT_LR)
        self.stage('lite:finetuned', lambda: self.finetuned('lite', **lite))
        self.stage('lite:aware', lambda: self.aware('lite', **lite))
        self.stage('lite:aware_adds', lambda: self.aware('lite', residual_adds=True, **lite))
        # measured (three seeds: -2.4 Easy against lite_aware_adds), not part of the job
        self.stage('lite:aware_adds_int8_head', lambda: self.aware(
            'lite', residual_adds=True, int8_head=True, **lite), by_default=False)
        self.stage('lite:alone', lambda: self.alone('lite_alone', 'lite', self.lite_config))
        self.stage('lite:distill', self.distill_lite)
        self.stage('latency', self.latency)
        self.stage('photos', self.photos)
        return self.results


def _run_exported(model_dir, photos):
    """Batch-1 outputs of the exported model in ``model_dir`` on ``{name: RGB}`` photos, in
    name order, through its own infer_cfg preprocessing (int8 kernels for a quantized model)."""
    from ppdet.deploy import Preprocessor, create_predictor, load_infer_cfg
    info = load_infer_cfg(model_dir)
    pred = create_predictor(model_dir, run_mode='paddle', cpu_threads=1,
                            enable_mkldnn_int8=bool(info.get('quantized')))
    pre = Preprocessor(info)
    return [pred.run(pre([photos[name]])) for name in sorted(photos)]


def face_results_table(results):
    """Markdown: every row's Easy / Medium / Hard AP, GFLOPs, size and CPU latency."""
    agree = (results.get('latency') or {}).get('agreement', {})
    lines = ['| model | GFLOPs | size (MB) | input | Easy | Medium | Hard | '
             'Paddle fp32 (ms) | Paddle int8 (ms) | onnxruntime (ms) | Lite x86 .nb = Paddle |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for key, r, f in rows_with_latency(results):
        lite = agree.get(key, {}).get('lite_x86')
        lines.append('| %s | %.4f | %.3f | %d | %.4f | %.4f | %.4f | %s | %s | %s | %s |' % (
            key, r['GFLOPs'], r['size_MB'], r['input_size'], r['Easy'], r['Medium'], r['Hard'],
            f('paddle_fp32'), f('paddle_int8'), f('onnx_fp32'),
            '%.0f%% matched' % (100 * lite) if lite is not None else '-'))
    photos = results.get('photos')
    if photos:
        lines += ['', 'Real photos (%d, scikit-image): detections of a reference model kept '
                  '(score >= 0.5, IoU >= 0.5)' % len(photos['photos'])]
        for k, v in sorted(photos.items()):
            if isinstance(v, dict):
                lines.append('- %s: keeps %d of the %d detections of %s (finds %d; mean IoU '
                             '%.3f)' % (k.split('_vs_')[0], v['matched'], v['n_ref'],
                                        v['reference'], v['n'], v['mean_iou']))
    seeds = format_seed_spread(results, FACE_PRUNE_TARGET, FACE_PRUNE_PLANS, 'Easy AP')
    for extra in (format_distill_comparison(results), seeds):
        if extra:
            lines += ['', extra]
    return '\n'.join(lines)
