import json

import pytest

from ppdet.utils.settings_record import SETTINGS_KEY, check_settings_record, settings_diff


def test_records_then_accepts_the_same_settings(tmp_path):
    path = str(tmp_path / 'work' / 'settings.json')
    check_settings_record(path, {'epochs': 3, 'dataset': 'a'}, 'the runs', 'fix it')
    assert json.load(open(path))[SETTINGS_KEY] == {'epochs': 3, 'dataset': 'a'}
    out = check_settings_record(path, {'dataset': 'a', 'epochs': 3}, 'the runs', 'fix it')
    assert out[SETTINGS_KEY] == {'epochs': 3, 'dataset': 'a'}


def test_refuses_other_settings_naming_keys_and_fix(tmp_path):
    path = str(tmp_path / 'settings.json')
    check_settings_record(path, {'epochs': 3, 'dataset': 'a'}, 'the runs', 'x')
    with pytest.raises(ValueError) as e:
        check_settings_record(path, {'epochs': 1, 'dataset': 'a'}, 'its cached runs',
                              'give another --work_dir')
    msg = str(e.value)
    assert 'epochs=3' in msg and 'epochs=1' in msg and 'dataset' not in msg
    assert 'its cached runs' in msg and 'give another --work_dir' in msg
    assert json.load(open(path))[SETTINGS_KEY]['epochs'] == 3   # the record is kept


def test_a_file_without_record_is_adopted_and_keeps_its_keys(tmp_path):
    path = tmp_path / 'results.json'
    path.write_text(json.dumps({'rows': [1, 2]}))
    out = check_settings_record(str(path), {'a': 1}, 'rows', 'fix')
    assert out['rows'] == [1, 2] and out[SETTINGS_KEY] == {'a': 1}
    with pytest.raises(ValueError):
        check_settings_record(str(path), {'a': 2}, 'rows', 'fix')


def test_settings_diff_counts_missing_keys():
    assert settings_diff({'a': 1, 'b': 2}, {'a': 1, 'c': 3}) == ['b', 'c']
    assert settings_diff({'a': [1]}, {'a': [1]}) == []


def test_tuples_compare_equal_to_their_recorded_lists(tmp_path):
    path = str(tmp_path / 's.json')
    check_settings_record(path, {'seeds': (0, 1)}, 'rows', 'fix')
    check_settings_record(path, {'seeds': [0, 1]}, 'rows', 'fix')
