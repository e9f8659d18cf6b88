"""One factory for every runtime an exported model can run on.

``create_predictor(model_dir, run_mode=...)`` returns a :class:`Predictor`;
``predictor.run({'image': ..., 'im_shape': ..., 'scale_factor': ...})`` returns
``{'bbox': ..., 'bbox_num': ...}`` (or ``{'boxes', 'scores'}`` for an
``exclude_nms`` export) as numpy arrays, whatever the backend.  The base class
does the shared input/output handling; a backend only loads the model and runs
one list of arrays in the graph's input order.

Run modes: ``paddle`` (Paddle Inference, CPU with or without oneDNN - fp32, int8 or bf16 -
or GPU),
``trt_fp32`` / ``trt_fp16`` / ``trt_int8`` (Paddle Inference + TensorRT; needs a
CUDA build with TensorRT), ``onnx`` (paddle2onnx + onnxruntime) and ``lite``
(Paddle-Lite x86 ``.nb`` run inside the lite chroot, see :mod:`ppdet.deploy.lite`).
"""
import os
import shutil

import numpy as np

from .infer_cfg import (INPUT_NAMES, MODEL_FILE, REEXPORT, check_model, load_infer_cfg,
                        model_files, output_names, program_desc)
from .memory import peak_rss_mb
from .onednn_matmul import guard_matmul_add_fusion
from .pass_log import create_quietly

__all__ = ['RUN_MODES', 'BackendUnavailable', 'Predictor', 'create_predictor',
           'paddle_cpu_config', 'require_bf16', 'run_paddle', 'PaddlePredictor',
           'TensorRTPredictor', 'OnnxPredictor', 'LitePredictor']

RUN_MODES = ('paddle', 'trt_fp32', 'trt_fp16', 'trt_int8', 'onnx', 'lite')

GPU_HOWTO = (
    'pip install paddlepaddle-gpu==2.6.2 (a CUDA 11.8/12.0 build from '
    'https://www.paddlepaddle.org.cn/whl/) on a machine with an NVIDIA GPU, put the '
    'TensorRT 8.x libraries on LD_LIBRARY_PATH, then run '
    'python deploy/python/infer.py --model_dir DIR --image_file IMAGE --device GPU '
    '--run_mode {run_mode}')


class BackendUnavailable(RuntimeError):
    """The requested runtime cannot run on this machine; the message says what to do."""


class Predictor(object):
    """Shared input/output handling; subclasses implement ``_load`` and ``_run``.  A corrupt
    or truncated export is refused here, before a backend reads it
    (:func:`~ppdet.deploy.infer_cfg.check_model`)."""

    def __init__(self, model_dir, infer_cfg=None, cpu_threads=1):
        self.model_dir = model_dir
        self.infer_cfg = infer_cfg or load_infer_cfg(model_dir)
        check_model(model_dir)
        self.cpu_threads = int(cpu_threads)
        self.output_names = output_names(self.infer_cfg)
        self.input_names = list(INPUT_NAMES)

    def run(self, inputs):
        """``inputs``: dict name -> array; -> dict of the contract's output names -> arrays."""
        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise ValueError('missing model inputs %s (got %s)' % (missing, sorted(inputs)))
        feeds = [np.ascontiguousarray(inputs[n], dtype=self._dtype(n)) for n in self.input_names]
        outs = self._run(feeds)
        if len(outs) != len(self.output_names):
            raise ValueError('%s returned %d outputs, expected %s' % (
                type(self).__name__, len(outs), self.output_names))
        outs = dict(zip(self.output_names, outs))
        if 'bbox_num' in outs:
            outs['bbox_num'] = np.asarray(outs['bbox_num']).astype(np.int32).reshape(-1)
            outs['bbox'] = np.asarray(outs['bbox'], dtype=np.float32).reshape(-1, 6)
        return outs

    __call__ = run

    def _dtype(self, name):
        """A fused export (``fuse_preprocess``) takes the image as uint8 NHWC."""
        if name == 'image' and self.infer_cfg.get('fuse_preprocess'):
            return np.uint8
        return np.float32

    def _run(self, feeds):
        raise NotImplementedError

    def peak_memory_mb(self):
        """Peak resident memory of the process running the model (this one by default)."""
        return peak_rss_mb(os.getpid())

    def close(self):
        pass


# ---------------------------------------------------------------- Paddle Inference
class PaddlePredictor(Predictor):
    """Paddle Inference.  oneDNN is on by default in 2.6.2's Config: "off" must disable it.

    With oneDNN, ``onednn_group_norm`` (default on) runs the program's ``group_norm`` ops as
    ops oneDNN has kernels for (:mod:`ppdet.deploy.onednn_group_norm`; the export itself
    is not changed).  ``enable_mkldnn_bfloat16`` runs the network's ops in bf16 and the box
    decoding in fp32 (:mod:`ppdet.deploy.onednn_bf16`).  ``onednn_reduce_max`` (default on)
    runs maxima over the innermost axis (the NMS candidate bound's) on Paddle's kernel
    (:mod:`ppdet.deploy.onednn_reduce`); ``onednn_reshape_in_place`` (default on) runs the
    decoding tail's reshapes without copying (:mod:`ppdet.deploy.onednn_reshape`)."""

    def __init__(self, model_dir, infer_cfg=None, device='CPU', cpu_threads=1,
                 enable_mkldnn=True, enable_mkldnn_int8=False, onednn_group_norm=True,
                 enable_mkldnn_bfloat16=False, onednn_reduce_max=True,
                 onednn_reshape_in_place=True, **trt):
        super().__init__(model_dir, infer_cfg, cpu_threads)
        self.bf16 = bool(enable_mkldnn_bfloat16)
        if self.bf16:
            _check_bf16_request(self.infer_cfg, device, enable_mkldnn, enable_mkldnn_int8)
        from paddle import inference
        from .onednn_group_norm import program_for_onednn
        model_file, params_file = model_files(model_dir)
        onednn = device != 'GPU' and (enable_mkldnn or enable_mkldnn_int8)
        if device != 'GPU' and enable_mkldnn_int8 and not enable_mkldnn:
            # oneDNN's int8 kernels are oneDNN: the flag was dropped without a word
            from ppdet.utils.logger import setup_logger
            setup_logger(__name__).warning(
                'enable_mkldnn=False has no effect on an int8 run: its int8 kernels are '
                "oneDNN's (enable_mkldnn_int8=False runs the int8 graph on Paddle's own fp32 "
                'kernels instead)')
        tmp, rewritten = None, 0
        if onednn:
            model_file, tmp, rewritten = program_for_onednn(
                model_file, bf16=self.bf16, group_norm=onednn_group_norm,
                reduce_max=onednn_reduce_max, reshape_in_place=onednn_reshape_in_place)
        self.group_norms_rewritten = rewritten > 0
        try:
            self._create(inference, model_file, params_file, device, enable_mkldnn,
                         enable_mkldnn_int8, trt)
        except (RuntimeError, ValueError) as e:
            if 'load_combine' not in str(e):
                raise
            raise _params_error(e, params_file) from None
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)

    def _create(self, inference, model_file, params_file, device, enable_mkldnn,
                enable_mkldnn_int8, trt):
        if device == 'GPU':
            config = inference.Config(model_file, params_file)
            config.enable_use_gpu(200, 0)
            self._configure_gpu(config, **trt)
            _common_settings(config)
        else:
            config = paddle_cpu_config(model_file, params_file, self.cpu_threads, enable_mkldnn,
                                       enable_mkldnn_int8, self.bf16)
        self.config = config
        self.predictor = create_quietly(config)
        self.input_names = list(self.predictor.get_input_names())
        self._outputs = list(self.predictor.get_output_names())

    def _configure_gpu(self, config, **trt):
        pass

    def _run(self, feeds):
        return run_paddle(self.predictor, dict(zip(self.input_names, feeds)), self._outputs)


def _params_error(error, params_file):
    """Paddle's multi-line error from reading ``params_file`` (its ``load_combine`` op) ->
    one line naming the file: the net under :func:`~ppdet.deploy.infer_cfg.check_model`
    (a tensor of a dtype it does not know is not followed)."""
    model_file = os.path.join(os.path.dirname(params_file), MODEL_FILE)
    return ValueError("%s cannot be loaded as the parameters of %s (corrupt, or another "
                      "model's): %s (Paddle: %s)" % (params_file, model_file, REEXPORT,
                                                     str(error).strip().splitlines()[0]))


def run_paddle(predictor, feeds, outputs=None):
    """One run of a Paddle Inference ``predictor``: ``feeds`` {input name: array} copied in,
    -> the ``outputs`` (default: all, in the graph's order) as numpy arrays."""
    for name, arr in feeds.items():
        predictor.get_input_handle(name).copy_from_cpu(arr)
    predictor.run()
    return [predictor.get_output_handle(n).copy_to_cpu()
            for n in (outputs or predictor.get_output_names())]


def paddle_cpu_config(model_file, params_file=None, cpu_threads=1, enable_mkldnn=True,
                      enable_mkldnn_int8=False, enable_mkldnn_bfloat16=False):
    """The Paddle Inference CPU ``Config`` every model here runs with (oneDNN on by default,
    IR passes, zero-copy feeds).  ``params_file`` None: a program without parameters (e.g.
    the post-process alone, as :func:`ppdet.benchmark.full_size.time_nms` times it).
    ``enable_mkldnn_bfloat16``: the ops ``model_file`` marks bf16 run in bf16 (a program
    from :func:`ppdet.deploy.onednn_group_norm.program_for_onednn` with ``bf16=True``;
    :func:`require_bf16` first: Paddle silently ignores it without AVX-512).  A program
    with a matmul + add that oneDNN's fuse pass gets wrong runs without that pass
    (:mod:`ppdet.deploy.onednn_matmul`)."""
    from paddle import inference
    config = inference.Config()
    config.set_prog_file(model_file)
    if params_file:
        config.set_params_file(params_file)
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(int(cpu_threads))
    if enable_mkldnn or enable_mkldnn_int8:
        config.enable_mkldnn()
        config.set_mkldnn_cache_capacity(10)
        if enable_mkldnn_int8:
            config.enable_mkldnn_int8()
            _fuse_elementwise_activations(config)
        if enable_mkldnn_bfloat16:
            from .onednn_bf16 import PLACEMENT_OFF
            require_bf16()
            _require_bf16_marks(model_file)
            config.enable_mkldnn_bfloat16()
            config.set_bfloat16_op(PLACEMENT_OFF)
    else:
        config.disable_mkldnn()
    _common_settings(config)
    if enable_mkldnn or enable_mkldnn_int8:
        guard_matmul_add_fusion(config, model_file)
    return config


_ELEMENTWISE_ACT_FUSE = 'elementwise_act_onednn_fuse_pass'
_QUANTIZE_PLACEMENT_PASS = 'cpu_quantize_placement_pass'


def _fuse_elementwise_activations(config):
    """Put the fp32 pass list's ``elementwise_act_onednn_fuse_pass`` into Paddle 2.6.2's
    int8 one (it lacks it), after the scales are propagated and before the quantize passes:
    an int8 residual add (:mod:`ppdet.slim.residual_adds`) then writes its ReLU's u8 output
    itself, instead of a dequantize, an fp32 ReLU and a quantize after it.  (Inserted before the
    scale propagation instead, three of a tiny BlazeFace-Lite's adds were refused: "Elementwise
    inputs must be of the same type".)"""
    builder = config.pass_builder()
    passes = builder.all_passes()
    if _ELEMENTWISE_ACT_FUSE not in passes and _QUANTIZE_PLACEMENT_PASS in passes:
        builder.insert_pass(passes.index(_QUANTIZE_PLACEMENT_PASS), _ELEMENTWISE_ACT_FUSE)


def _common_settings(config):
    config.disable_glog_info()
    config.switch_ir_optim(True)
    config.enable_memory_optim()
    config.switch_use_feed_fetch_ops(False)


def _require_bf16_marks(model_file):
    from .onednn_bf16 import is_marked
    with open(model_file, 'rb') as f:
        if not is_marked(f.read()):
            raise ValueError('%s has no op marked bf16, so enable_mkldnn_bfloat16 would run it '
                             'in fp32: load it through program_for_onednn(model_file, '
                             'bf16=True) (PaddlePredictor does)' % model_file)


def require_bf16(flags=None):
    """Fail unless this CPU computes bf16 natively (``flags``: its /proc/cpuinfo flags).

    Paddle turns ``enable_mkldnn_bfloat16`` off without a word on a CPU without AVX-512, and
    on AVX-512 without BF16 oneDNN emulates it: YOLOv3-MobileNetV1 at 320 ran 2.6-2.8x
    *slower* than fp32 that way (ONEDNN_MAX_CPU_ISA=AVX512_CORE on a Zen 4, 2026-12-04,
    benchmarks/results/second_cpu/bf16/emulated_avx512_core).  Either way the user would not
    get what they asked for."""
    from ppdet.benchmark.cpu import has_native_bf16
    if not has_native_bf16(flags):
        raise BackendUnavailable(
            'enable_mkldnn_bfloat16 needs a CPU with native bf16 arithmetic (AVX512-BF16 or '
            'AMX-BF16: Intel Cooper Lake / Sapphire Rapids or later, AMD Zen 4 or later); this '
            'CPU has neither, so Paddle would run fp32 (no AVX-512) or oneDNN would emulate bf16 '
            '(slower than fp32): run fp32, or a quantized model with enable_mkldnn_int8')


def _check_bf16_request(infer_cfg, device, enable_mkldnn, enable_mkldnn_int8):
    if device == 'GPU':
        raise ValueError('enable_mkldnn_bfloat16 is a CPU (oneDNN) setting: drop it for --device '
                         'GPU (TensorRT half precision: --run_mode trt_fp16)')
    if not enable_mkldnn:
        raise ValueError('enable_mkldnn_bfloat16 runs oneDNN kernels: it needs enable_mkldnn '
                         'true')
    if infer_cfg.get('quantized') or enable_mkldnn_int8:
        # measured 2026-12-04: bf16 for the float rest of an int8 model (its output convs) gave
        # r578 + int8 YOLOv3 0.97-1.03x, and Paddle 2.6.2's quantize squash then breaks
        # ResNet-style int8 graphs (fused_conv2d fed bf16 where it reads float)
        raise ValueError('enable_mkldnn_bfloat16 is for an fp32 model; this one is quantized: run '
                         'it with enable_mkldnn_int8 alone (its int8 kernels are faster than bf16; '
                         'bf16 for the ops it keeps in float gains nothing measurable and fails '
                         'on ResNet backbones in Paddle 2.6.2)')


def require_tensorrt(run_mode):
    """Fail before touching the model when this Paddle build cannot run TensorRT."""
    import paddle
    from paddle import inference
    if not paddle.is_compiled_with_cuda():
        raise BackendUnavailable(
            'run_mode %s needs a GPU build of Paddle with TensorRT (paddlepaddle-gpu + TensorRT '
            'libs); this Paddle build has no CUDA: use --run_mode paddle or onnx, or run on a GPU '
            'machine: %s' % (run_mode, GPU_HOWTO.format(run_mode=run_mode)))
    if tuple(inference.get_trt_compile_version()) == (0, 0, 0):
        raise BackendUnavailable(
            'run_mode %s needs a Paddle build compiled with TensorRT; this paddlepaddle-gpu build '
            'has CUDA but no TensorRT: use --run_mode paddle, or install a TensorRT-enabled '
            'build: %s' % (run_mode, GPU_HOWTO.format(run_mode=run_mode)))


def _hw(shape):
    return [int(shape), int(shape)] if np.isscalar(shape) else [int(s) for s in shape]


class TensorRTPredictor(PaddlePredictor):
    """Paddle Inference with TensorRT subgraphs (fp32 / fp16 / int8) and dynamic shapes.

    A model exported at a fixed size gets min = opt = max = that size; a dynamic one
    (``image_shape`` with None) gets ``trt_min_shape`` / ``trt_opt_shape`` / ``trt_max_shape``
    (an int for square inputs or [h, w]).  ``trt_calib_mode`` calibrates an fp32 model for
    int8 (run it on calibration images first; Paddle writes the table under the model dir);
    a quantized (QAT/PTQ) model is run with ``trt_calib_mode=False``.
    """
    PRECISION = {'trt_fp32': 'Float32', 'trt_fp16': 'Half', 'trt_int8': 'Int8'}

    def __init__(self, model_dir, run_mode, infer_cfg=None, batch_size=1, trt_min_shape=1,
                 trt_max_shape=1280, trt_opt_shape=640, trt_calib_mode=False, **kw):
        require_tensorrt(run_mode)
        self.run_mode = run_mode
        infer_cfg = infer_cfg or load_infer_cfg(model_dir)
        trt = dict(run_mode=run_mode, batch_size=batch_size,
                   shapes=(trt_min_shape, trt_opt_shape, trt_max_shape),
                   calib=bool(trt_calib_mode))
        super().__init__(model_dir, infer_cfg, device='GPU', **dict(kw, **trt))

    def _configure_gpu(self, config, run_mode, batch_size, shapes, calib):
        from paddle import inference
        infer_cfg = self.infer_cfg
        precision = getattr(inference.PrecisionType, self.PRECISION[run_mode])
        config.enable_tensorrt_engine(
            workspace_size=1 << 30, max_batch_size=int(batch_size),
            min_subgraph_size=int(infer_cfg.get('min_subgraph_size', 3)),
            precision_mode=precision, use_static=False,
            use_calib_mode=bool(calib and run_mode == 'trt_int8'))
        config.set_trt_dynamic_shape_info(*trt_dynamic_shapes(infer_cfg, batch_size, *shapes))


def trt_dynamic_shapes(infer_cfg, batch_size, min_shape, opt_shape, max_shape):
    """-> (min, max, opt) dicts of input shapes for ``Config.set_trt_dynamic_shape_info``."""
    _, h, w = (infer_cfg.get('image_shape') or [3, None, None])
    fixed = h is not None and w is not None
    b = int(batch_size)
    shapes = []
    for size, n in ((min_shape, 1), (max_shape, b), (opt_shape, b)):
        hw = [int(h), int(w)] if fixed else _hw(size)
        shapes.append({'image': [n, 3] + hw, 'im_shape': [n, 2], 'scale_factor': [n, 2]})
    return tuple(shapes)


# ---------------------------------------------------------------- onnxruntime
class OnnxPredictor(Predictor):
    """paddle2onnx (cached as ``model.onnx`` beside the model) + onnxruntime.

    paddle2onnx's NonMaxSuppression export handles one image per run, so a batch with
    NMS inside is run image by image and the outputs concatenated.
    """

    def __init__(self, model_dir, infer_cfg=None, device='CPU', cpu_threads=1, onnx_file=None,
                 profile_prefix=None):
        import onnxruntime as ort
        providers = onnx_providers(ort, device)   # before anything is converted or written
        super().__init__(model_dir, infer_cfg, cpu_threads)
        from .onnx import onnx_model_file
        self.onnx_file = onnx_file or onnx_model_file(model_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.cpu_threads
        opts.inter_op_num_threads = 1
        # idle spinning threads would steal the CPU from whatever runs next in this process
        opts.add_session_config_entry('session.intra_op.allow_spinning', '0')
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if profile_prefix:   # every node's kernel time, written by end_profiling()
            opts.enable_profiling = True
            opts.profile_file_prefix = profile_prefix
        self.session = ort.InferenceSession(self.onnx_file, opts, providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self._per_image = not self.infer_cfg.get('exclude_nms')

    def _run(self, feeds):
        if not self._per_image or feeds[0].shape[0] == 1:
            return self.session.run(None, dict(zip(self.input_names, feeds)))
        runs = [self.session.run(None, {n: a[i:i + 1] for n, a in zip(self.input_names, feeds)})
                for i in range(feeds[0].shape[0])]
        return [np.concatenate([r[k] for r in runs], axis=0) for k in range(len(runs[0]))]


def onnx_providers(ort, device):
    """onnxruntime's execution providers for ``device``; GPU needs onnxruntime-gpu."""
    if device != 'GPU':
        return ['CPUExecutionProvider']
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        raise BackendUnavailable(
            'run_mode onnx with --device GPU needs onnxruntime-gpu (CUDAExecutionProvider);'
            ' this onnxruntime has only %s: use --device CPU'
            % ', '.join(ort.get_available_providers()))
    return ['CUDAExecutionProvider', 'CPUExecutionProvider']


# ---------------------------------------------------------------- Paddle-Lite (x86)
class LitePredictor(Predictor):
    """Paddle-Lite x86 ``.nb`` (converted and cached as ``model_x86.nb``) run in the chroot."""

    def __init__(self, model_dir, infer_cfg=None, device='CPU', cpu_threads=1, lite_env=None,
                 allow_x86_int8=False):
        if device != 'CPU':
            raise BackendUnavailable('run_mode lite runs the x86 CPU .nb here; use --device CPU '
                                     '(ARM devices: see deploy/lite/README.md)')
        from . import lite
        super().__init__(model_dir, infer_cfg, cpu_threads)
        lite.refuse_x86_int8(model_dir, self.infer_cfg, allow_x86_int8)
        lite.check_lite_program(model_dir, program_desc(model_files(model_dir)[0]))
        env = lite.require_lite_env(lite_env)
        self.nb_file = lite.cached_nb(model_dir, 'x86', env=env)
        self.worker = lite.LiteWorker(self.nb_file, threads=self.cpu_threads, env=env)

    def _run(self, feeds):
        return self.worker.run(list(zip(self.input_names, feeds)))

    def peak_memory_mb(self):
        return self.worker.peak_memory_mb()

    def close(self):
        self.worker.close()


def create_predictor(model_dir, run_mode='paddle', device='CPU', cpu_threads=1,
                     enable_mkldnn=True, enable_mkldnn_int8=False, enable_mkldnn_bfloat16=False,
                     batch_size=1,
                     trt_min_shape=1, trt_max_shape=1280, trt_opt_shape=640,
                     trt_calib_mode=False, **backend_kw):
    """Build the predictor for ``run_mode`` (one of :data:`RUN_MODES`).

    ``enable_mkldnn_int8`` runs a quantized model with oneDNN int8 kernels (without it a
    quantized graph runs its fake-quant ops in float: slower than fp32);
    ``enable_mkldnn_bfloat16`` runs an fp32 model's oneDNN ops in bf16 (CPUs with native
    bf16 only, :func:`require_bf16`).  Extra keywords go to the backend (``onnx_file=`` for
    a quantized ONNX model, ``lite_env=``, ``onednn_group_norm=``).
    """
    if run_mode not in RUN_MODES:
        raise ValueError('unknown run_mode %r; choose one of %s' % (run_mode, ', '.join(RUN_MODES)))
    device = str(device).upper()
    if device not in ('CPU', 'GPU'):
        raise ValueError('unknown device %r; choose CPU or GPU' % device)
    if enable_mkldnn_bfloat16 and run_mode != 'paddle':
        raise ValueError('enable_mkldnn_bfloat16 is a Paddle Inference (oneDNN) setting; run_mode '
                         '%s does not take it: use --run_mode paddle' % run_mode)
    if run_mode.startswith('trt_'):
        require_tensorrt(run_mode)  # before reading anything
        if device != 'GPU':
            raise ValueError('run_mode %s runs on the GPU: add --device GPU' % run_mode)
        return TensorRTPredictor(model_dir, run_mode, batch_size=batch_size,
                                 trt_min_shape=trt_min_shape, trt_max_shape=trt_max_shape,
                                 trt_opt_shape=trt_opt_shape, trt_calib_mode=trt_calib_mode,
                                 cpu_threads=cpu_threads, **backend_kw)
    cfg = load_infer_cfg(model_dir)
    if run_mode == 'paddle':
        if device == 'GPU':
            import paddle
            if not paddle.is_compiled_with_cuda():
                raise BackendUnavailable('--device GPU needs paddlepaddle-gpu; this Paddle build '
                                         'has no CUDA: use --device CPU')
        if cfg.get('quantized') and not enable_mkldnn_int8 and device == 'CPU':
            from ppdet.utils.logger import setup_logger
            setup_logger(__name__).warning(
                'quantized model run without enable_mkldnn_int8: fake-quant ops run in float '
                '(slow); pass enable_mkldnn_int8=True for int8 kernels')
        return PaddlePredictor(model_dir, cfg, device=device, cpu_threads=cpu_threads,
                               enable_mkldnn=enable_mkldnn,
                               enable_mkldnn_int8=enable_mkldnn_int8,
                               enable_mkldnn_bfloat16=enable_mkldnn_bfloat16, **backend_kw)
    if run_mode == 'onnx':
        return OnnxPredictor(model_dir, cfg, device=device, cpu_threads=cpu_threads, **backend_kw)
    return LitePredictor(model_dir, cfg, device=device, cpu_threads=cpu_threads, **backend_kw)
