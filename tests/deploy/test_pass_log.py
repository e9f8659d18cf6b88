"""ppdet/deploy/pass_log.py: an int8 predictor is made without the quantize passes' 32-line
summary on stderr; anything else written there stays, and stderr is given back."""
import os

import pytest

from ppdet.deploy.pass_log import create_quietly, without_pass_summary
from ppdet.deploy.predictors import paddle_cpu_config


def test_only_the_quantize_passes_summary_lines_are_dropped():
    text = ('\x1b[37m---    quantized 47 fused_conv2d ops \x1b[0m\n'
            '\x1b[37m---    squashed 52 dequantize-quantize pairs\x1b[0m\n'
            'W1206 12:00:00 analysis_predictor.cc:1 a warning of Paddle\'s\n'
            '---    fused 3 conv with elementwise_add\n'
            '---    squashed by hand, no count\n')
    assert without_pass_summary(text) == (
        'W1206 12:00:00 analysis_predictor.cc:1 a warning of Paddle\'s\n'
        '---    fused 3 conv with elementwise_add\n'
        '---    squashed by hand, no count\n')


def test_an_int8_predictor_is_made_without_the_summary(yolov3_int8_dir, capfd):
    config = paddle_cpu_config(os.path.join(yolov3_int8_dir, 'model.pdmodel'),
                               os.path.join(yolov3_int8_dir, 'model.pdiparams'),
                               enable_mkldnn_int8=True)
    predictor = create_quietly(config)
    assert predictor.get_input_names()
    err = capfd.readouterr().err
    assert 'quantized' not in err and 'squashed' not in err, err[:500]


def test_stderr_is_given_back_when_making_the_predictor_fails(tmp_path, capfd):
    missing = str(tmp_path / 'missing.pdmodel')
    open(missing, 'wb').close()                  # an empty program: Paddle refuses it
    with pytest.raises(Exception):
        create_quietly(paddle_cpu_config(missing, str(tmp_path / 'missing.pdiparams')))
    os.write(2, b'after the failure\n')
    assert 'after the failure' in capfd.readouterr().err
