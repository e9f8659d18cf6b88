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


# check_results_overwrite: a benchmark's results file is not written over by another run


def _results(tmp_path, obj, name='r.json'):
    path = tmp_path / name
    path.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return str(path)


def test_results_overwrite_refuses_other_settings_naming_keys_values_and_fix(tmp_path):
    from ppdet.utils.settings_record import check_results_overwrite
    mine = {'grid': ['a:320'], 'threads': (1,)}
    path = _results(tmp_path, {SETTINGS_KEY: {'grid': ['a:320'], 'threads': [1]}, 'rows': 1})
    before = open(path).read()
    check_results_overwrite(path, mine)                   # the same run again: rewritten
    with pytest.raises(ValueError) as e:
        check_results_overwrite(path, dict(mine, threads=[1, 2]))
    assert str(e.value) == (
        "--out_dir: %s holds the results of another run (threads=[1]; this run: "
        "threads=[1, 2]): they would be overwritten; give another --out_dir (or --overwrite "
        "to replace them)" % path)
    with pytest.raises(ValueError, match=r'^--out: .* give another --out \(or --overwrite'):
        check_results_overwrite(path, dict(mine, grid=['b:608']), flag='--out')
    check_results_overwrite(path, dict(mine, threads=[2]), overwrite=True)
    check_results_overwrite(str(tmp_path / 'none.json'), dict(mine, threads=[2]))  # none there
    assert open(path).read() == before                    # read only
    # a record from before a key was added to the settings: the keys it has are compared
    check_results_overwrite(path, dict(mine, rounds=5))


@pytest.mark.parametrize('text', ['not json', '[1, 2]', json.dumps({SETTINGS_KEY: [1]})])
def test_results_overwrite_refuses_a_file_that_is_not_its_own(text, tmp_path):
    from ppdet.utils.settings_record import check_results_overwrite
    path = _results(tmp_path, text)
    with pytest.raises(ValueError, match=r'^--out_dir: .*r.json is not a results file of this '
                                         r'script: give another --out_dir \(or --overwrite to '
                                         r'replace it\)$'):
        check_results_overwrite(path, {'a': 1})
    check_results_overwrite(path, {'a': 1}, overwrite=True)


def test_results_overwrite_file_without_record(tmp_path, ppdet_log):
    """The committed tables were written before the record: compared on what ``recorded``
    reads from them, or (nothing read) taken as this run's, with a warning either way."""
    from ppdet.utils.settings_record import check_results_overwrite
    path = _results(tmp_path, {'rounds': 200, 'rows': []})
    check_results_overwrite(path, {'rounds': 20})
    assert "has no record of the settings it was made with: taken as this run's" in \
        ppdet_log.text

    def recorded(obj):
        return obj.get(SETTINGS_KEY) or {'rounds': obj['rounds']}
    check_results_overwrite(path, {'rounds': 200, 'extra': 9}, recorded=recorded)
    assert 'compared on what it holds (rounds)' in ppdet_log.text
    with pytest.raises(ValueError, match=r'\(rounds=200; this run: rounds=20\)'):
        check_results_overwrite(path, {'rounds': 20}, recorded=recorded)
    with pytest.raises(ValueError, match='is not a results file of this script'):
        check_results_overwrite(_results(tmp_path, {'x': 1}, 'x.json'), {'rounds': 20},
                                recorded=recorded)      # KeyError: not this script's
