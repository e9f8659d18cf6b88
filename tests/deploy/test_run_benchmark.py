"""--run_benchmark: warm-up and repeats by default, the pre / inference / post split that adds
up to the end-to-end time."""
import importlib.util
import os
import re

import cv2
import pytest

from ppdet.deploy import Detector
from ppdet.deploy.benchmark import stage_split

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
