"""--run_benchmark: warm-up and repeats by default, the pre / inference / post split that adds
up to the end-to-end time."""
import importlib.util
import os
import re

import cv2
import pytest

from deploy_models import as_int8_model, synthetic_image
from ppdet.benchmark.cpu import cpu_description, cpu_flags
from ppdet.deploy import Detector
from ppdet.deploy.benchmark import stage_split
from ppdet.deploy.infer_run import Runs, batch_shape

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'deploy', 'python', 'infer.py')


@pytest.fixture(scope='module')
def infer():
    spec = importlib.util.spec_from_file_location('deploy_infer_bench', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_are_a_benchmark(infer):
    args = infer.build_parser().parse_args(['--model_dir', 'x', '--run_benchmark'])
    assert args.warmup == 10 and args.repeats is None     # None -> 50 with --run_benchmark


def test_split_is_reported_and_adds_up(infer, tiny_model_dir, photo, tmp_path, capsys):
    path = str(tmp_path / 'photo.jpg')
    cv2.imwrite(path, cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    infer.main(['--model_dir', tiny_model_dir, '--image_file', path, '--output_dir',
                str(tmp_path / 'out'), '--run_benchmark'])
    text = capsys.readouterr().out
    assert 'warmup=10 repeats=50' in text
    means = {}
    for stage in ('preprocess', 'inference', 'postprocess', 'end_to_end'):
        m = re.search(r'%s\s+mean\s+([\d.]+) ms.*\((\d+) runs\)' % stage, text)
        assert m, (stage, text)
        assert int(m.group(2)) == 50
        means[stage] = float(m.group(1))
    parts = means['preprocess'] + means['inference'] + means['postprocess']
    assert parts == pytest.approx(means['end_to_end'], rel=0.05, abs=0.05)
    assert re.search(r'pre \+ post\s+[\d.]+% of end-to-end', text)


def test_detector_repeats_the_whole_pipeline(tiny_model_dir, images):
    det = Detector(tiny_model_dir)
    det.warm_up(images[:1], 3)
    assert det.timer.summary() == {}            # warm-up is not timed
    det.predict(images[:2], repeats=7)
    summary = det.timer.summary()
    assert all(summary[s]['count'] == 7 for s in ('preprocess', 'inference', 'postprocess',
                                                   'end_to_end'))
    split = stage_split(summary)
    assert split['stages_sum_ms'] == pytest.approx(split['end_to_end_ms'], rel=0.05, abs=0.05)
    assert split['stages_sum_ms'] <= split['end_to_end_ms']
    assert 0 < split['pre_post_share'] < 1
    det.close()


def test_bf16_flag_reaches_the_predictor_or_is_refused(infer, tiny_model_dir, photo, tmp_path,
                                                       capsys):
    from ppdet.benchmark.cpu import has_native_bf16
    from ppdet.deploy import BackendUnavailable
    path = str(tmp_path / 'photo.jpg')
    cv2.imwrite(path, cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    argv = ['--model_dir', tiny_model_dir, '--image_file', path, '--output_dir',
            str(tmp_path / 'out'), '--run_benchmark', '--warmup', '1', '--repeats', '2',
            '--enable_mkldnn_bfloat16']
    if not has_native_bf16():
        with pytest.raises(BackendUnavailable, match='native bf16'):
            infer.main(argv)
        return
    infer.main(argv)
    assert 'bf16=True' in capsys.readouterr().out


def _benchmark_settings(infer, photo, tmp_path, capsys, argv):
    """Run a short --run_benchmark; check the CPU lines; -> the settings line."""
    path = str(tmp_path / 'photo.jpg')
    cv2.imwrite(path, cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    infer.main(argv + ['--image_file', path, '--output_dir', str(tmp_path / 'out'),
                       '--run_benchmark', '--warmup', '1', '--repeats', '2'])
    text = capsys.readouterr().out
    assert '  CPU: %s\n' % cpu_description() in text
    assert '  CPU flags: %s\n' % cpu_flags()['flags'] in text
    # a timing condition worth 2-4% on the AMX Xeon: whether the heap is in huge pages
    assert '  heap in huge pages: %s\n' % cpu_flags()['huge_pages'] in text
    return next(line for line in text.splitlines() if line.startswith('benchmark: '))


def test_the_cpu_and_the_runtime_settings_are_printed(infer, tiny_model_dir, photo, tmp_path,
                                                     capsys):
    """The CPU and its flags, int8 on or off (switched on by itself for a quantized export),
    oneDNN / bf16 for Paddle only."""
    int8 = as_int8_model(tiny_model_dir, str(tmp_path / 'int8'))
    line = _benchmark_settings(infer, photo, tmp_path, capsys, ['--model_dir', int8])
    assert 'run_mode=paddle device=CPU cpu_threads=1 mkldnn=True int8=True bf16=False' in line
    line = _benchmark_settings(infer, photo, tmp_path, capsys, [
        '--model_dir', tiny_model_dir, '--enable_mkldnn', 'false'])
    assert 'cpu_threads=1 mkldnn=False int8=False bf16=False' in line
    line = _benchmark_settings(infer, photo, tmp_path, capsys, [
        '--model_dir', tiny_model_dir, '--run_mode', 'onnx'])
    assert 'run_mode=onnx device=CPU cpu_threads=1 int8=False batch_size=1' in line


def test_lite_settings_claim_no_thread_count(infer, tiny_model_dir, photo, tmp_path, capsys,
                                             lite_env):
    """x86 Paddle-Lite has no thread setting (deploy/lite/README.md): none is claimed."""
    line = _benchmark_settings(infer, photo, tmp_path, capsys, [
        '--model_dir', tiny_model_dir, '--run_mode', 'lite'])
    assert ('run_mode=lite device=CPU cpu_threads=n/a (x86 Paddle-Lite has no thread setting) '
            'int8=False batch_size=1') in line


def test_real_batches_are_warmed_up_and_timed(infer, tiny_model_dir, photo, tmp_path):
    """--batch_size 4 with one image: the warm-up ran 4 dummy images and every timed run 1;
    now each shape of real batch is warmed up before it is timed."""
    args = infer.build_parser().parse_args(['--model_dir', tiny_model_dir, '--image_file', 'x',
                                            '--run_benchmark', '--batch_size', '4',
                                            '--warmup', '2', '--repeats', '3'])
    det = Detector(tiny_model_dir)
    runs = Runs(det, args)
    runs([photo])
    assert runs.warmed == {(1,)} and dict(runs.batches) == {1: 1}
    runs([photo, synthetic_image(1)])
    runs([synthetic_image(2), photo])
    assert runs.warmed == {(1,), (2,)} and dict(runs.batches) == {1: 1, 2: 2}
    assert det.timer.summary()['end_to_end']['count'] == 3 * 3   # the warm-ups untimed
    assert runs.images_timed() == 5 * 3
    det.close()


def test_batch_shape_includes_the_image_sizes_of_a_dynamic_model():
    a, b = synthetic_image(1, 96, 128), synthetic_image(2, 120, 90)
    assert batch_shape({'image_shape': [3, 64, 64]}, [a, b]) == (2,)
    assert batch_shape({'image_shape': [3, None, None]}, [a, b]) == (2, (96, 128), (120, 90))


def test_times_per_batch_and_per_image(infer, tiny_model_dir, photo, tmp_path, capsys):
    """3 images at --batch_size 2: a batch of 2 and one of 1, said so; ms per image = all
    runs' time / their images."""
    folder = tmp_path / 'images'
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / ('%d.png' % i)), synthetic_image(i))
    infer.main(['--model_dir', tiny_model_dir, '--image_dir', str(folder), '--output_dir',
                str(tmp_path / 'out'), '--batch_size', '2', '--run_benchmark', '--warmup', '1',
                '--repeats', '4'])
    text = capsys.readouterr().out
    assert ('batches timed: 1 batch(es) of 2 image(s), 1 batch(es) of 1 image(s); times in ms '
            'per batch') in text
    # what the stages leave out is said (an 8000x6000 JPEG took 272 ms to decode, unseen)
    assert 'the images are decoded before timing (reading and decoding a file is not in ' \
           'preprocess or end_to_end)' in text
    m = re.search(r'end_to_end\s+mean\s+([\d.]+) ms/batch .*\((\d+) runs\)\s+([\d.]+) ms/image',
                  text)
    assert m, text
    batch_ms, runs, image_ms = float(m.group(1)), int(m.group(2)), float(m.group(3))
    assert runs == 2 * 4
    assert image_ms == pytest.approx(batch_ms * runs / (3 * 4), rel=0.02, abs=0.01)


def test_a_pause_before_each_timed_run_is_slept_and_not_timed(infer, tiny_model_dir, images,
                                                              photo, tmp_path, capsys):
    """--pause_s: a model called now and then (its data out of the caches) - the sleep is
    before each run, outside the timed stages."""
    import time
    det = Detector(tiny_model_dir)
    det.warm_up(images[:1], 2)
    t0 = time.perf_counter()
    det.predict(images[:1], repeats=4, pause_s=0.25)
    wall = time.perf_counter() - t0
    summary = det.timer.summary()
    assert summary['end_to_end']['count'] == 4
    assert wall >= 4 * 0.25                                    # slept before each run
    timed_s = summary['end_to_end']['mean_ms'] * 4 / 1e3
    assert timed_s < wall - 4 * 0.25 + 1e-3                    # and not inside the timer
    det.close()
    line = _benchmark_settings(infer, photo, tmp_path, capsys,
                               ['--model_dir', tiny_model_dir, '--pause_s', '0.005'])
    assert ' pause_s=0.005 ' in line
    with pytest.raises(ValueError, match='--pause_s'):
        infer.check_args(infer.build_parser().parse_args(['--model_dir', 'x', '--pause_s',
                                                          '-1']))
