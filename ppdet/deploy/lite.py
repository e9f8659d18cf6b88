"""Paddle-Lite from Python 3.11: everything runs in the lite chroot (Python 3.9).

PyPI's ``paddlelite`` wheels stop at Python 3.10, so ``deploy/lite/setup_lite_env.sh``
(``make lite-env``) builds a Debian bullseye chroot with ``paddlelite==2.13rc0`` in
``/opt/lite``.  This module converts models there with ``paddle_lite_opt``
(:func:`optimize`, :func:`model_ops`) and runs x86 ``.nb`` files through
:mod:`ppdet.deploy.lite_runner` (:class:`LiteWorker`).  Files travel through a
scratch directory under the chroot's ``/tmp``: no bind mounts to clean up.
"""
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from ppdet.utils.fileio import write_json

from .infer_cfg import (INPUT_NAMES, REEXPORT, check_model, load_infer_cfg, model_files,
                        program_desc)
from .memory import peak_rss_mb

__all__ = ['LiteEnvMissing', 'LiteError', 'default_lite_env', 'lite_env_ready',
           'require_lite_env', 'ensure_lite_env', 'optimize', 'cached_nb', 'model_ops',
           'LiteWorker', 'TARGETS', 'X86_INT8_WRONG', 'refuse_x86_int8', 'is_quant_op',
           'optimized_kernels', 'Opt', 'device_preprocess', 'write_device_preprocess',
           'check_lite_program']

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETUP_SCRIPT = os.path.join(ROOT, 'deploy', 'lite', 'setup_lite_env.sh')
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lite_runner.py')
LITE_PY = '/opt/lite/bin/python'
LITE_OPT = '/opt/lite/bin/paddle_lite_opt'
TARGETS = ('x86', 'arm')


# Why an int8 model gets no x86 .nb run here (measured 2026-12-05 with paddlelite 2.13rc0 on
# the full-size benchmark's YOLOv3-MobileNetV1 r578@32 int8 at 320, abs_max PTQ): its program
# cut after the first conv and converted for x86 gave an output 14.2 dB from the same program
# run in float, where Paddle Inference's oneDNN int8 was exact (142 dB); the error was nil
# for a photo squeezed to +-7 grey levels around the mean and grew with the contrast (48.6 dB
# at +-14, 24.4 at +-29), per-channel gains 0.55-1.12 at full contrast: an input-dependent loss,
# as sums of int8 products saturating in 16 bits would give.  Six photos through the whole
# model: 0% of its detections matched Paddle's int8 ones (fp32 .nb: 100%).
X86_INT8_WRONG = (
    "Paddle-Lite 2.13rc0's x86 int8 convolutions do not compute what the int8 model says "
    "(measured on the full-size YOLOv3-MobileNetV1 int8: 14 dB from the quantized graph "
    "after its first conv, where Paddle Inference's oneDNN int8 is exact; the error grows "
    "with the input's contrast), so an x86 .nb run of an int8 model is no check of it")


class LiteEnvMissing(RuntimeError):
    pass


class LiteError(RuntimeError):
    pass


def default_lite_env():
    return os.environ.get('LITE_ENV') or os.path.join(ROOT, 'lite-env')


def lite_env_ready(env=None):
    env = env or default_lite_env()
    return (os.path.isfile(os.path.join(env, '.lite-ready'))
            and os.path.isfile(env + LITE_OPT))


def require_lite_env(env=None):
    env = env or default_lite_env()
    if not lite_env_ready(env):
        raise LiteEnvMissing(
            'the Paddle-Lite environment is not built at %s: run `make lite-env` '
            '(deploy/lite/setup_lite_env.sh: a Debian bullseye chroot with Python 3.9 and '
            'paddlelite==2.13rc0; needs root, debootstrap and network, about 1-2 min once). '
            'Set LITE_ENV to use another path.' % env)
    return env


def ensure_lite_env(env=None, timeout=1200):
    """Build the environment with the setup script if needed; -> its path.  One build at a
    time (a lock file beside it): a second process waits for the first and reuses its work."""
    env = env or default_lite_env()
    if lite_env_ready(env):
        return env
    os.makedirs(os.path.dirname(os.path.abspath(env)), exist_ok=True)
    with open(os.path.abspath(env) + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if lite_env_ready(env):
            return env
        proc = subprocess.run(['bash', SETUP_SCRIPT], env=dict(os.environ, LITE_ENV=env),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)
    if proc.returncode != 0 or not lite_env_ready(env):
        raise LiteEnvMissing('make lite-env failed (exit %d):\n%s'
                             % (proc.returncode, proc.stdout[-2000:]))
    return env


def _chroot(env, argv):
    """Command line running ``argv`` inside the chroot with a clean environment."""
    inner = ['/usr/bin/env', '-i', 'PATH=/opt/lite/bin:/usr/bin:/bin', 'HOME=/root',
             'LANG=C.UTF-8', 'OMP_NUM_THREADS=1'] + list(argv)
    if os.geteuid() == 0:
        return ['chroot', env] + inner
    # unprivileged: a user namespace makes chroot possible where the kernel allows it
    return ['unshare', '--map-root-user', 'chroot', env] + inner


class _Scratch(object):
    """A temp dir inside the chroot: ``.host`` is its outside path, ``.inner`` its inside path."""

    def __init__(self, env):
        base = os.path.join(env, 'tmp')
        os.makedirs(base, exist_ok=True)
        self.host = tempfile.mkdtemp(prefix='ppdet-lite-', dir=base)
        os.chmod(self.host, 0o755)
        self.inner = '/tmp/' + os.path.basename(self.host)

    def close(self):
        shutil.rmtree(self.host, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _stage_model(model_dir, scratch):
    from .program_fixes import sums_as_adds
    for src in model_files(model_dir):
        shutil.copy(src, os.path.join(scratch.host, os.path.basename(src)))
    # the export's projection sums (program_fixes.sum_projection_adds) are for oneDNN;
    # Paddle-Lite has no x86 sum kernel and fuses elementwise_add on ARM.  A program Paddle
    # cannot read is left to paddle_lite_opt, whose error names the target.
    try:
        sums_as_adds(scratch.host)
    except (ValueError, RuntimeError):
        pass


def _check_target(target):
    if target not in TARGETS:
        raise ValueError('unknown valid_targets %r; choose one of %s' % (target, ', '.join(TARGETS)))


class Opt(object):
    """``paddle_lite_opt`` in the chroot on one model, staged there once for every call.

    Staging copies the parameters into the chroot (145 MB for the full-size RetinaNet), so
    a caller asking several things of one model (its op table, its ``.nb``, its kernels)
    opens one ``Opt``; the module functions :func:`model_ops`, :func:`optimize` and
    :func:`optimized_kernels` open one per call.  A failed conversion is a :class:`LiteError`
    whose message carries opt's output."""

    def __init__(self, model_dir, env=None):
        # a wrong --model_dir, or a model.pdmodel that is no program (opt read 0 ops from it
        # and crashed; an empty one crashed the staging), is named before the environment
        check_lite_program(model_dir, check_model(model_dir))
        self.model_dir = model_dir
        self.env = require_lite_env(env)
        self._scratch = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._scratch is not None:
            self._scratch.close()
            self._scratch = None

    def _staged(self):
        if self._scratch is None:
            self._scratch = _Scratch(self.env)
            _stage_model(self.model_dir, self._scratch)
        return self._scratch

    def _run(self, valid_targets, extra, timeout):
        _check_target(valid_targets)
        scratch = self._staged()
        argv = [LITE_OPT, '--model_file=%s/model.pdmodel' % scratch.inner,
                '--param_file=%s/model.pdiparams' % scratch.inner,
                '--valid_targets=%s' % valid_targets] + extra
        return subprocess.run(_chroot(self.env, argv), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)

    def _write(self, valid_targets, out_type, timeout):
        """opt's output of ``out_type`` (``naive_buffer``: the .nb; ``protobuf``: a program
        directory) -> its path on the host, inside the scratch directory."""
        name, scratch = 'out_%s_%s' % (valid_targets, out_type), self._staged()
        proc = self._run(valid_targets, ['--optimize_out_type=%s' % out_type,
                                         '--optimize_out=%s/%s' % (scratch.inner, name)], timeout)
        produced = os.path.join(scratch.host, name + '.nb' if out_type == 'naive_buffer' else name)
        if proc.returncode != 0 or not os.path.exists(produced):
            why = 'crashed (signal %d)' % -proc.returncode if proc.returncode < 0 else \
                'failed (exit %d)' % proc.returncode
            raise LiteError('paddle_lite_opt --valid_targets=%s %s on %s; check its op list with '
                            'model_ops() / deploy/lite/convert.py --print_ops. Output:\n%s'
                            % (valid_targets, why, self.model_dir, proc.stdout[-2000:]))
        return produced

    def model_ops(self, valid_targets='arm', timeout=600):
        """See :func:`model_ops`."""
        return parse_model_ops(self._run(valid_targets, ['--print_model_ops=true'],
                                         timeout).stdout)

    def optimize(self, valid_targets='x86', optimize_out=None, timeout=600):
        """See :func:`optimize`."""
        out = optimize_out or os.path.join(self.model_dir, 'model_%s' % valid_targets)
        if out.endswith('.nb'):
            out = out[:-3]
        produced = self._write(valid_targets, 'naive_buffer', timeout)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        shutil.copy(produced, out + '.nb.tmp')
        os.replace(out + '.nb.tmp', out + '.nb')
        return out + '.nb'

    def kernels(self, valid_targets='arm', timeout=600):
        """See :func:`optimized_kernels`."""
        from paddle.base.proto import framework_pb2
        program = framework_pb2.ProgramDesc()
        with open(os.path.join(self._write(valid_targets, 'protobuf', timeout), 'model'),
                  'rb') as f:
            program.ParseFromString(f.read())
        return [_kernel_record(op) for op in program.blocks[0].ops]


def optimize(model_dir, valid_targets='x86', optimize_out=None, env=None, timeout=600):
    """``paddle_lite_opt`` in the chroot; -> the written ``.nb`` path.

    ``optimize_out`` is opt's flag (the path without ``.nb``; a trailing ``.nb`` is accepted);
    default ``<model_dir>/model_<target>``.
    """
    _check_target(valid_targets)
    with Opt(model_dir, env) as opt:
        return opt.optimize(valid_targets, optimize_out, timeout)


def is_quant_op(op_type):
    """Whether ``op_type`` is a quantize / dequantize op of an int8 program: opt folds them into
    the int8 kernels' scales, so they need no kernel of their own."""
    return op_type.startswith(('fake_', 'quantize_linear', 'dequantize_linear'))


def refuse_x86_int8(model_dir, infer_cfg, allow=False):
    """Raise :class:`LiteError` for an int8 model's x86 run unless ``allow``
    (:data:`X86_INT8_WRONG`)."""
    if infer_cfg.get('quantized') and not allow:
        raise LiteError(
            '%s is an int8 model. %s. Run it here with --run_mode paddle (oneDNN int8), or on '
            'the phone: deploy/lite/convert.py --valid_targets arm (ARM int8 kernels; not run '
            'here). To run the x86 .nb anyway: allow_x86_int8=True (deploy/python/infer.py '
            '--lite_x86_int8).' % (model_dir, X86_INT8_WRONG))


def device_preprocess(infer_cfg):
    """What the on-device runner (deploy/lite/arm_benchmark.py: numpy and paddlelite only, no
    ppdet) needs to feed a model's .nb as Paddle Inference is fed: its inputs, size and
    resize interpolation, and either ``fused`` (the graph normalises: uint8 [N,H,W,3]) or
    the mean / std to normalise with (float32 [N,3,H,W]).  Refuses a pre-processing that
    runner does not do (a Resize keeping the ratio, other ops) with the reason."""
    ops = {op['type']: op for op in infer_cfg.get('Preprocess') or []}
    other = sorted(set(ops) - {'Resize', 'NormalizeImage', 'Permute'})
    resize = ops.get('Resize') or {}
    if other or not resize or resize.get('keep_ratio'):
        raise ValueError('the on-device runner (deploy/lite/arm_benchmark.py) feeds a fixed-size '
                         'Resize, then NormalizeImage and Permute; this model\'s Preprocess is '
                         '%s. %s' % ([op['type'] + (' (keep_ratio)' if op.get('keep_ratio') else '')
                                     for op in infer_cfg.get('Preprocess') or []],
                                    _device_preprocess_fix(infer_cfg, fixed_ratio=not other)))
    height, width = [int(v) for v in resize['target_size']]
    out = {'inputs': list(INPUT_NAMES), 'height': height, 'width': width,
           'interp': int(resize.get('interp', 1)),
           'fused': bool(infer_cfg.get('fuse_preprocess'))}
    if not out['fused']:
        norm = ops.get('NormalizeImage') or {'mean': [0.0] * 3, 'std': [1.0] * 3,
                                             'is_scale': False}
        out.update(mean=[float(v) for v in norm['mean']], std=[float(v) for v in norm['std']],
                   is_scale=bool(norm.get('is_scale', True)))
    return out


def _device_preprocess_fix(infer_cfg, fixed_ratio):
    """The fix :func:`device_preprocess`'s refusal names: a re-export whose test transforms
    the runner feeds (for a Resize keeping the ratio, the exact ``-o`` of
    tools/export_model.py that fixes the size), or the .nb alone for Paddle-Lite's C++
    benchmark_bin."""
    import yaml
    alone = ('or convert with deploy/lite/convert.py --nb_only (the .nb, no .json) and time it '
             'with Paddle-Lite\'s C++ benchmark_bin, which takes the input shapes '
             '(deploy/lite/README.md)')
    if not fixed_ratio or not any(op.get('type') == 'Resize'
                                  for op in infer_cfg.get('Preprocess') or []):
        return ('Re-export it with TestReader.sample_transforms Decode, Resize (keep_ratio: '
                'false), NormalizeImage, Permute only, %s' % alone)
    transforms = [{'Decode': {}}]
    for op in infer_cfg['Preprocess']:
        args = {k: v for k, v in op.items() if k != 'type'}
        if op['type'] == 'Resize':
            args['keep_ratio'] = False
        transforms.append({op['type']: args})
    override = yaml.safe_dump(transforms, default_flow_style=True, sort_keys=False,
                              width=1 << 20).strip()
    return ('Re-export it at a fixed size (the aspect ratio is then not kept): '
            'tools/export_model.py -c CONFIG -o weights=W "TestReader.sample_transforms=%s", '
            '%s' % (override, alone))


def write_device_preprocess(model_dir, nb_file):
    """:func:`device_preprocess` of ``model_dir`` as JSON beside ``nb_file`` (``x.nb`` ->
    ``x.json``), where arm_benchmark.py looks for it; -> its path."""
    path = os.path.splitext(nb_file)[0] + '.json'
    write_json(path, device_preprocess(load_infer_cfg(model_dir)))
    return path


def _unshaped_fill_constants(desc):
    """How many ``fill_constant`` ops of the program give a 0-d tensor: no ``shape``
    attribute and no shape input (the control flow of a dynamic-size dense head writes
    them; a fixed-size export has none)."""
    n = 0
    for block in desc.blocks:
        for op in block.ops:
            if op.type != 'fill_constant':
                continue
            shape = [a for a in op.attrs if a.name == 'shape']
            inputs = {i.parameter: list(i.arguments) for i in op.inputs}
            if (not shape or not (list(shape[0].longs) or list(shape[0].ints))) and \
                    not inputs.get('ShapeTensor') and not inputs.get('ShapeTensorList'):
                n += 1
    return n


def check_lite_program(model_dir, desc):
    """Refuse, before any conversion, a program Paddle-Lite 2.13 converts but then aborts
    on: 0-d ``fill_constant`` ops (``fill_constant_op.cc:44 InferShapeImpl] no valid
    out_shape``, exit -6; measured on the dynamic-size RetinaNet exports: 12 in the
    built-in one).  ``desc``: the parsed program (:func:`check_model`)."""
    n = _unshaped_fill_constants(desc)
    if n:
        raise ValueError(
            '%s has %d fill_constant op(s) of a 0-d shape (the control flow of a dynamic-size '
            'export): Paddle-Lite 2.13 converts them and then aborts at run time '
            '(fill_constant_op.cc: no valid out_shape); export at a fixed size for Paddle-Lite '
            '(tools/export_model.py -o TestReader.inputs_def.image_shape=[3,H,W])'
            % (model_dir, n))


def cached_nb(model_dir, target='x86', env=None, opt=None):
    """``<model_dir>/model_<target>.nb``, converted again unless it was made from the model
    files there now (:mod:`ppdet.deploy.derived`; with ``opt``, an open :class:`Opt` of
    ``model_dir``, when given)."""
    from ppdet.deploy.derived import is_fresh, write_stamp
    nb = os.path.join(model_dir, 'model_%s.nb' % target)
    srcs = model_files(model_dir)
    check_lite_program(model_dir, program_desc(srcs[0]))   # a .nb cached before the check
    if is_fresh(nb, srcs):
        return nb
    nb = opt.optimize(target, nb) if opt is not None else optimize(model_dir, target, nb, env=env)
    write_stamp(nb, srcs)
    return nb


def model_ops(model_dir, valid_targets='arm', env=None, timeout=600):
    """opt's ``--print_model_ops`` table: -> {'supported': bool, 'ops': {op: [kernel targets]},
    'missing': [ops without a kernel for ``valid_targets`` that the program needs]}.

    An op with an empty target list has no kernel; an int8 program's quantize / dequantize
    ops have none and need none (:func:`is_quant_op`).
    """
    _check_target(valid_targets)
    with Opt(model_dir, env) as opt:
        return opt.model_ops(valid_targets, timeout)


# Paddle-Lite's PrecisionType numbers, as a picked kernel's attribute writes them
PRECISIONS = {'0': 'unknown', '1': 'float', '2': 'int8', '3': 'int32', '4': 'any', '5': 'fp16',
              '6': 'bool', '7': 'int64', '8': 'int16', '9': 'uint8', '10': 'fp64'}


def optimized_kernels(model_dir, valid_targets='arm', env=None, timeout=600):
    """The program opt writes for ``valid_targets``, each op with the kernel opt picked: ->
    [{'op', 'alias', 'precision', 'inputs', 'outputs', 'input_scale', 'output_scale'}] in
    order, e.g. alias ``'int8_out'`` and precision ``'int8'`` for an int8 conv whose output
    feeds another int8 op, ``'def'`` / ``'float'`` for a float conv.  ``inputs`` /
    ``outputs``: the data tensors' names (opt reuses names: a later op may write one again);
    the scales: an int8 op's ``Input0_scale`` / ``Output0_scale`` (first value) or None.
    Read from opt's protobuf output, what the ``.nb`` holds."""
    _check_target(valid_targets)
    with Opt(model_dir, env) as opt:
        return opt.kernels(valid_targets, timeout)


def _kernel_record(op):
    attrs = {a.name: a for a in op.attrs}

    def first_float(name):
        return float(attrs[name].floats[0]) if name in attrs and attrs[name].floats else None

    kernel = attrs['__@kernel_type_attr@__'].s if '__@kernel_type_attr@__' in attrs else ''
    parts = kernel.split('/')          # '<op type>/<alias>/<target>/<precision>/<layout>'
    data = ('Input', 'X', 'Out', 'Output', 'Y')
    return {'op': op.type, 'alias': parts[1] if len(parts) > 1 else '',
            'precision': PRECISIONS.get(parts[3], parts[3]) if len(parts) > 3 else '',
            'inputs': [a for v in op.inputs if v.parameter in data for a in v.arguments],
            'outputs': [a for v in op.outputs if v.parameter in data for a in v.arguments],
            'input_scale': first_float('Input0_scale'),
            'output_scale': first_float('Output0_scale')}


def parse_model_ops(text):
    lines = text.splitlines()
    header = next((i for i, l in enumerate(lines) if l.strip().startswith('OP_name')), None)
    if header is None:
        raise LiteError('no op table in paddle_lite_opt --print_model_ops output:\n%s'
                        % text[-2000:])
    cols = [(m.group(0), m.end()) for m in re.finditer(r'k\w+', lines[header])]
    ops = {}
    for line in lines[header + 1:]:
        name = line.split()[0] if line.strip() else ''
        if not re.match(r'^[a-z0-9_]+$', name):
            break  # end of the table
        # a 'Y' sits under the last character of its column's header
        ops[name] = [c[1:] for c, end in cols if len(line) >= end and line[end - 1] == 'Y']
    if not ops:   # opt lists every op of a program it could read
        raise LiteError('paddle_lite_opt read no op from the model: its model.pdmodel is '
                        'corrupt or not a Paddle program; %s' % REEXPORT)
    # an int8 program's quantize / dequantize ops have no kernel: opt folds them into the
    # int8 kernels' scales (counting them refused every int8 model, PTQ and QAT alike)
    missing = sorted(op for op, targets in ops.items() if not targets and not is_quant_op(op))
    # opt exits 1 after printing the table even when every op is supported
    supported = 'supports this model' in text and not missing
    return {'supported': supported, 'ops': ops, 'missing': missing}


class LiteWorker(object):
    """A long-lived ``lite_runner.py --serve`` in the chroot: the model loads once."""

    def __init__(self, nb_file, threads=1, env=None):
        self.env = require_lite_env(env)
        self.scratch = _Scratch(self.env)
        shutil.copy(RUNNER, os.path.join(self.scratch.host, 'lite_runner.py'))
        shutil.copy(nb_file, os.path.join(self.scratch.host, 'model.nb'))
        argv = [LITE_PY, '-u', self.scratch.inner + '/lite_runner.py', '--serve',
                '--model', self.scratch.inner + '/model.nb', '--threads', str(int(threads))]
        self.log = open(os.path.join(self.scratch.host, 'stderr.log'), 'w+')
        self.proc = subprocess.Popen(_chroot(self.env, argv), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     bufsize=1)
        try:
            self._reply()  # the model loaded
        except Exception:
            self.close()
            raise

    def _reply(self):
        for line in self.proc.stdout:
            if line.startswith('@@lite '):
                reply = json.loads(line[len('@@lite '):])
                if not reply.get('ok'):
                    raise LiteError('Paddle-Lite runner: %s' % reply.get('error'))
                return reply
        self.log.seek(0)
        raise LiteError('Paddle-Lite runner exited (code %s): %s'
                        % (self.proc.wait(), self.log.read()[-2000:]))

    def run(self, named_arrays):
        io_dir = tempfile.mkdtemp(prefix='io-', dir=self.scratch.host)
        try:
            for name, arr in named_arrays:
                np.save(os.path.join(io_dir, 'in_%s.npy' % name), arr)
            inner = self.scratch.inner + '/' + os.path.basename(io_dir)
            self.proc.stdin.write(json.dumps({'io_dir': inner,
                                              'inputs': [n for n, _ in named_arrays]}) + '\n')
            self.proc.stdin.flush()
            n = self._reply()['outputs']
            return [np.load(os.path.join(io_dir, 'out_%d.npy' % k)) for k in range(n)]
        finally:
            shutil.rmtree(io_dir, ignore_errors=True)

    def peak_memory_mb(self):
        return peak_rss_mb(self.proc.pid)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.scratch.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
