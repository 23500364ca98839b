"""The loss log: the reference's structure, the journal's format, damage and recovery."""

import binascii
import hashlib
import json
import math
import os
from pathlib import Path
import pickle

import numpy as np
import pytest

from nectargan_jax.log import DamagedLogError
from nectargan_jax.log import LossLog
from nectargan_jax.log import read_records
from nectargan_jax.log import _format as _log_format
from nectargan_jax.log._salvage import salvage


def read_file(log):
    with open(log.path) as f:
        return json.load(f)


def losses(log, name="a"):
    return log.read()["LOSSMANAGER_LOG"]["loss_functions"][name]["loss"]


def snapshot(folder):
    return {p.name: p.read_bytes() for p in Path(folder).iterdir()}


def journal_payloads(log):
    """The journal read as the README describes it: ``<length> <crc32> <json>`` lines."""
    payloads = []
    for line in log.journal.read_bytes().split(b"\n")[:-1]:
        length, crc, body = line.split(b" ", 2)
        assert int(length) == len(body) and int(crc, 16) == binascii.crc32(body)
        payloads.append(json.loads(body))
    return payloads


def journal_with_three_appends(tmp_path):
    """A log whose journal holds lines 2, 3, 4: records 1.0, 2.0, 3.0 of loss 'a'."""
    log = LossLog(tmp_path)
    log.append({"z": ([0.0] * 40, [1.0] * 40)})
    log.compact()
    for value in (1.0, 2.0, 3.0):
        log.append({"a": ([value], [0.5])})
    assert len(log.journal.read_bytes().splitlines()) == 4
    return log


def damage_line(path, number):
    """Changes one digit inside line ``number`` (1-based), keeping its length."""
    lines = path.read_bytes().split(b"\n")
    line = lines[number - 1]
    i = line.rindex(b"0")
    lines[number - 1] = line[:i] + b"7" + line[i + 1:]
    path.write_bytes(b"\n".join(lines))


def test_base_log_has_the_reference_structure(tmp_path):
    dataroot = tmp_path / "data"
    (dataroot / "train" / "sub").mkdir(parents=True)
    for name in ("1.png", "2.png"):
        (dataroot / "train" / name).write_bytes(b"")
    log = LossLog(tmp_path / "exp1", device="cpu", dataroot=str(dataroot))
    log.export_base_log()
    assert read_file(log) == {"LOSSMANAGER_LOG": {
        "device": "cpu", "dataroot": str(dataroot), "dataset_length": 3,
        "experiment": "exp1", "loss_functions": {}}}
    assert log.path.read_text().startswith('{\n    "LOSSMANAGER_LOG": {\n        "device"')


@pytest.mark.parametrize("compact", [False, True])
def test_appends_extend_lists_in_order_and_empty_losses_get_entries(tmp_path, compact):
    with LossLog(tmp_path, compact_every_append=compact) as log:
        log.append({"a": ([1.0, 2.0], [0.5, 0.5]), "b": ([], [])})
        log.append({"a": (np.array([3.0]), np.array([0.25])), "b": ([7], [1])})
    expected = {"a": {"loss": [1.0, 2.0, 3.0], "weights": [0.5, 0.5, 0.25]},
                "b": {"loss": [7.0], "weights": [1.0]}}
    assert log.read()["LOSSMANAGER_LOG"]["loss_functions"] == expected
    assert read_file(log)["LOSSMANAGER_LOG"]["loss_functions"] == expected
    assert sorted(os.listdir(tmp_path)) == ["loss_log.json"]


def test_small_appends_do_not_rewrite_the_log(tmp_path):
    log = LossLog(tmp_path)
    log.append({"a": (np.zeros(1000), np.ones(1000))})  # journal outgrows the header: merged
    inode = os.stat(log.path).st_ino
    log.append({"a": ([1.0], [1.0])})
    assert os.stat(log.path).st_ino == inode  # not replaced: only the journal grew
    assert log.journal.exists()
    assert losses(log)[-1] == 1.0
    log.compact()
    assert not log.journal.exists()
    assert len(read_file(log)["LOSSMANAGER_LOG"]["loss_functions"]["a"]["loss"]) == 1001


def test_an_append_reads_nothing_while_the_log_is_unchanged(tmp_path, monkeypatch):
    log = LossLog(tmp_path)
    log.append({"a": ([0.0] * 100, [1.0] * 100)})
    log.append({"a": ([1.0], [1.0])})  # the journal is started
    read_bytes, reads = Path.read_bytes, []
    monkeypatch.setattr(Path, "read_bytes", lambda p: reads.append(p) or read_bytes(p))
    for value in (2.0, 3.0, 4.0):
        log.append({"a": ([value], [1.0])})
    assert reads == []  # cost in the new records only, not in the log's size
    with open(log.journal, "ab") as f:  # torn by another writer: read and cut again
        f.write(b"40 00")
    log.append({"a": ([5.0], [1.0])})
    assert set(reads) == {log.path, log.journal}
    assert losses(log)[-6:] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_journal_lines_carry_their_length_and_checksum(tmp_path):
    log = LossLog(tmp_path)
    log.append({"z": ([0.0] * 40, [1.0] * 40)})
    log.compact()
    log.append({"a": ([1.5], [2.0])})
    log.append({"b": ([2.5, 3.5], [2.0, 1.0])})
    assert journal_payloads(log) == [
        {"journal": 1, "extends": hashlib.sha256(log.path.read_bytes()).hexdigest()},
        {"records": {"a": {"loss": [1.5], "weights": [2.0]}}},
        {"records": {"b": {"loss": [2.5, 3.5], "weights": [2.0, 1.0]}}}]


def test_a_crash_while_writing_leaves_the_old_file_intact(tmp_path, monkeypatch):
    log = LossLog(tmp_path, compact_every_append=True)
    log.append({"a": ([1.0], [1.0])})
    before = snapshot(tmp_path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(json, "dump", crash)
    with pytest.raises(KeyboardInterrupt):
        log.append({"a": ([2.0], [1.0])})
    assert snapshot(tmp_path) == before


def test_an_append_whose_merge_fails_leaves_no_trace(tmp_path, monkeypatch):
    log = LossLog(tmp_path)
    log.append({"a": ([1.0] * 50, [1.0] * 50)})
    log.append({"a": ([2.0], [1.0])})
    before = snapshot(tmp_path)

    def disk_full(obj, stream, **kwargs):
        stream.write('{"LOSSMANAGER_LOG": ')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(json, "dump", disk_full)
    with pytest.raises(OSError, match="No space left"):
        log.append({"a": ([3.0] * 500, [1.0] * 500)})  # the journal outgrows the file
    assert snapshot(tmp_path) == before
    monkeypatch.undo()
    log.append({"a": ([3.0] * 500, [1.0] * 500)})  # the retry
    assert losses(LossLog(tmp_path)) == [1.0] * 50 + [2.0] + [3.0] * 500


@pytest.mark.parametrize("tail", [b'44 0badf00d {"records":{"a":{"loss":[2.0],"wei',
                                  b"\0" * 300], ids=["cut-line", "zeros"])
def test_a_torn_last_line_does_not_hide_later_appends(tmp_path, tail):
    log = LossLog(tmp_path)
    log.export_base_log()
    log.append({"a": ([1.0], [1.0])})
    with open(log.journal, "ab") as f:
        f.write(tail)  # a writer killed mid-line, or a power cut after the size grew
    assert losses(log) == [1.0]
    log = LossLog(tmp_path)
    log.append({"a": ([3.0], [1.0])})
    log.append({"a": ([4.0], [1.0])})
    assert losses(LossLog(tmp_path)) == [1.0, 3.0, 4.0]
    LossLog(tmp_path).close()
    assert read_file(log)["LOSSMANAGER_LOG"]["loss_functions"]["a"]["loss"] == [1.0, 3.0, 4.0]


def test_a_damaged_middle_line_is_reported_and_nothing_is_written(tmp_path):
    log = journal_with_three_appends(tmp_path)
    damage_line(log.journal, 3)
    before = snapshot(tmp_path)
    fresh = LossLog(tmp_path)
    for call in (fresh.read, lambda: fresh.append({"a": ([4.0], [0.5])}), fresh.compact,
                 fresh.export_base_log, fresh.close):
        with pytest.raises(DamagedLogError) as info:
            call()
        assert str(log.journal) in str(info.value) and "line 3" in str(info.value)
        assert "checksum" in str(info.value) and "recover()" in str(info.value)
        assert (info.value.path, info.value.line) == (log.journal, 3)
        assert snapshot(tmp_path) == before
    copy = pickle.loads(pickle.dumps(info.value))  # as from a worker process
    assert (type(copy), str(copy), copy.line) == (DamagedLogError, str(info.value), 3)


def test_recover_keeps_every_readable_record_and_moves_the_damaged_file_aside(tmp_path):
    log = journal_with_three_appends(tmp_path)
    damage_line(log.journal, 3)
    damaged = log.journal.read_bytes()
    report = LossLog(tmp_path).recover()
    assert [p.startswith(f"{log.journal}, line 3:") for p in report.problems] == [True]
    assert len(report.moved_aside) == 1 and report.moved_aside[0].read_bytes() == damaged
    assert report.moved_aside[0].parent == tmp_path
    assert report.records == {"z": 40, "a": 2}
    assert read_file(log)["LOSSMANAGER_LOG"]["loss_functions"]["a"] == {
        "loss": [1.0, 3.0], "weights": [0.5, 0.5]}  # lines 2 and 4
    assert not log.journal.exists()
    for value in (4.0, 5.0):
        log.append({"a": ([value], [0.5])})
    damage_line(log.journal, 3)  # damaged again, moved aside again: no copy overwritten
    again = LossLog(tmp_path).recover()
    assert again.moved_aside[0] != report.moved_aside[0]
    assert report.moved_aside[0].read_bytes() == damaged
    assert losses(log) == [1.0, 3.0, 4.0]


def test_an_unreadable_journal_header_is_reported_not_overwritten(tmp_path):
    log = journal_with_three_appends(tmp_path)
    damage_line(log.journal, 1)
    before = snapshot(tmp_path)
    with pytest.raises(DamagedLogError, match="line 1"):
        LossLog(tmp_path).append({"a": ([4.0], [0.5])})
    assert snapshot(tmp_path) == before
    assert LossLog(tmp_path).recover().records == {"z": 40, "a": 3}
    assert losses(log) == [1.0, 2.0, 3.0]


def test_a_journal_extending_another_file_is_reported_and_recovered(tmp_path):
    log = journal_with_three_appends(tmp_path)
    other = {"LOSSMANAGER_LOG": {"device": "cpu", "dataroot": "", "dataset_length": 0,
                                 "experiment": "x", "loss_functions": {}}}
    log.path.write_text(json.dumps(other))  # replaced by another program
    with pytest.raises(DamagedLogError, match="line 1: the journal extends"):
        log.read()
    report = LossLog(tmp_path).recover()
    assert report.records == {"a": 3} and len(report.moved_aside) == 1
    assert losses(log) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("content, line, problem", [
    (b"not json at all", 1, "not JSON"),
    (b'{"LOSSMANAGER_LOG": {"device": "cpu",\n "loss_functions": {"a": {"loss": [1.0, 2',
     2, "truncated"),
    (b'{"LOSSMANAGER_LOG": {"loss_functions": {"a": {"loss": [1.0], "weights": []}}}}',
     None, "different lengths"),
    (b'\xff\xfe{}', 1, "not UTF-8"),
], ids=["not-json", "truncated", "lengths", "binary"])
@pytest.mark.parametrize("compact", [False, True])
def test_a_damaged_log_file_is_reported_and_never_written(tmp_path, content, line, problem,
                                                        compact):
    log = LossLog(tmp_path, compact_every_append=compact)
    log.path.write_bytes(content)
    before = snapshot(tmp_path)
    for call in (log.read, lambda: log.append({"a": ([4.0], [0.5])}), log.export_base_log):
        with pytest.raises(DamagedLogError, match=problem) as info:
            call()
        assert (info.value.path, info.value.line) == (log.path, line)
        assert str(log.path) in str(info.value)
        assert snapshot(tmp_path) == before


def test_recover_keeps_the_readable_part_of_a_truncated_log(tmp_path):
    log = LossLog(tmp_path, device="cuda", compact_every_append=True)
    log.append({"a": ([1.0, 2.0, 3.0], [0.5, 0.5, 0.5]), "b": ([4.0, 5.0, 6.0], [0.25] * 3)})
    log = LossLog(tmp_path, device="cpu")  # the header comes from the file, not from here
    log.append({"b": ([7.0], [0.25])})  # in the journal
    text = log.path.read_bytes()
    cut = text.rindex(b"0.25") + 2  # in the middle of b's third weight: "0."
    log.path.write_bytes(text[:cut])
    report = LossLog(tmp_path).recover()
    assert report.moved_aside[0].read_bytes() == text[:cut]
    assert "truncated" in report.problems[0]
    assert read_file(log) == {"LOSSMANAGER_LOG": {
        "device": "cuda", "dataroot": "", "dataset_length": 0, "experiment": tmp_path.name,
        "loss_functions": {"a": {"loss": [1.0, 2.0, 3.0], "weights": [0.5] * 3},
                           "b": {"loss": [4.0, 5.0, 7.0], "weights": [0.25] * 3}}}}


def test_a_log_cut_anywhere_keeps_a_prefix_of_its_records_in_order(tmp_path):
    log = LossLog(tmp_path, compact_every_append=True)
    log.append({"a": ([1.5, 2.5, 3.5], [0.5, 0.25, 0.125]),
                "b": ([4.0, 5.0], [1.0, 2.0])})
    full = log.read()["LOSSMANAGER_LOG"]["loss_functions"]
    text = log.path.read_bytes()
    base = _log_format.base_log(tmp_path, "cpu", "")
    kept = []
    for cut in range(len(text) + 1):
        functions = salvage(text[:cut], base)["LOSSMANAGER_LOG"]["loss_functions"]
        assert _log_format.structure_problem({"LOSSMANAGER_LOG": {
            "loss_functions": functions}}) is None
        for name, entry in functions.items():
            n = len(entry["loss"])
            assert entry == {column: full[name][column][:n] for column in full[name]}
        kept.append(sum(len(entry["loss"]) for entry in functions.values()))
    assert kept == sorted(kept) and kept[-1] == 5  # more of the file never keeps less


def test_recover_on_a_healthy_log_merges_it_and_reports_nothing(tmp_path):
    assert LossLog(tmp_path / "none").recover().records == {}
    journal_with_three_appends(tmp_path)
    report = LossLog(tmp_path).recover()
    assert (report.problems, report.moved_aside, report.records) == ((), (), {"z": 40, "a": 3})
    assert sorted(os.listdir(tmp_path)) == ["loss_log.json"]


def test_a_folder_that_is_a_file_is_an_error(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="taken.* is a file"):
        LossLog(tmp_path / "taken")
    log = LossLog(tmp_path / "later")
    (tmp_path / "later").write_text("not a folder")
    for call in (log.read, lambda: log.append({"a": ([1.0], [1.0])}), log.recover):
        with pytest.raises(NotADirectoryError, match="later"):
            call()


def test_opening_a_log_removes_the_temporary_files_a_killed_writer_left(tmp_path):
    names = [".loss_log.json.k2j3.tmp", ".loss_log.json.journal.x9.tmp", ".other.tmp",
             "loss_log.json.tmp", "notes.txt"]
    for name in names:
        (tmp_path / name).write_text("partial")
    LossLog(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(names[2:])


def test_a_merged_journal_left_behind_is_not_counted_twice(tmp_path, monkeypatch):
    log = journal_with_three_appends(tmp_path)
    unlink = Path.unlink

    def killed_before_removing_the_journal(path, missing_ok=False):
        if path == log.journal:
            raise PermissionError(13, "Permission denied", str(path))
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", killed_before_removing_the_journal)
    log.compact()
    monkeypatch.undo()
    assert log.journal.exists() and "superseded_by" in journal_payloads(log)[-1]
    assert losses(log) == [1.0, 2.0, 3.0]
    LossLog(tmp_path).append({"a": ([4.0], [0.5])})
    assert losses(log) == [1.0, 2.0, 3.0, 4.0]
    assert len(journal_payloads(log)) == 2  # a new journal: header and one append


def test_close_leaves_every_record_in_the_file_and_ends_appends(tmp_path):
    log = LossLog(tmp_path)
    log.append({"a": ([1.0] * 50, [1.0] * 50)})
    log.append({"a": ([2.0], [1.0])})
    assert log.journal.exists() and read_file(log) != log.read()
    log.close()
    log.close()
    assert not log.journal.exists() and read_file(log) == log.read()
    with pytest.raises(ValueError, match="closed"):
        log.append({"a": ([3.0], [1.0])})
    with LossLog(tmp_path) as log:
        log.append({"a": ([3.0], [1.0])})
    assert read_file(log)["LOSSMANAGER_LOG"]["loss_functions"]["a"]["loss"][-2:] == [2.0, 3.0]


BAD_RECORDS = [
    ({"a": np.zeros((2, 3))}, ValueError, r"records\['a'\] is an array of shape \(2, 3\)"),
    ({"a": (np.zeros((2, 3)), np.zeros((2, 3)))}, ValueError, r"1-D.*shape \(2, 3\)"),
    ({"a": (1.0, 1.0)}, ValueError, r"losses must be 1-D.*shape \(\)"),
    ([("a", ([1.0], [1.0]))], TypeError, "records must be a mapping"),
    ({"a": ([1.0, 2.0], [1.0])}, ValueError, "different lengths"),
    ({"a": ([True], [1.0])}, TypeError, "real numbers.*bool"),
    ({"a": (["x"], [1.0])}, TypeError, "real numbers"),
    ({"a": ([1j], [1.0])}, TypeError, "real numbers.*complex"),
    ({"a": ([1.0], [None])}, TypeError, "weights must hold real numbers"),
    ({"a": ([[1.0], [2.0, 3.0]], [1.0, 2.0])}, ValueError, "losses is not an array"),
    ({5: ([1.0], [1.0])}, TypeError, "names must be strings, got 5"),
    ({"": ([1.0], [1.0])}, ValueError, "must not be empty"),
    ({"a": ([1.0],)}, TypeError, r"must be a pair \(losses, weights\)"),
    ({"a": "ab"}, TypeError, r"must be a pair \(losses, weights\)"),
    ({"a": ([1.0], [1.0], [3])}, TypeError, r"records\['a'\] must be a pair"),
]


@pytest.mark.parametrize("records, error, message", BAD_RECORDS)
@pytest.mark.parametrize("compact", [False, True])
def test_bad_records_are_refused_before_anything_is_written(tmp_path, records, error,
                                                            message, compact):
    log = LossLog(tmp_path, compact_every_append=compact)
    log.append({"a": ([1.0], [1.0])})
    before = snapshot(tmp_path)
    with pytest.raises(error, match=message):
        log.append(records)
    assert snapshot(tmp_path) == before
    assert log.read()["LOSSMANAGER_LOG"]["loss_functions"] == {
        "a": {"loss": [1.0], "weights": [1.0]}}


def test_records_and_count_read_back_what_was_appended_journal_included(tmp_path):
    log = LossLog(tmp_path)
    assert log.count() == {} and log.records() == {}
    log.append({"G": ([0.5, 0.25], [1.0, 1.0]), "D": ([], [])})
    log.compact()
    log.append({"G": ([0.125], [2.0]), "D": ([3.0], [1.0])})  # in the journal
    assert log.journal.exists()
    records = log.records()
    assert {name: (losses.tolist(), weights.tolist())
            for name, (losses, weights) in records.items()} == {
        "G": ([0.5, 0.25, 0.125], [1.0, 1.0, 2.0]), "D": ([3.0], [1.0])}
    assert log.count() == {"G": 3, "D": 1}
    assert read_records(log.path)["G"][0].tolist() == [0.5, 0.25, 0.125]


def test_a_log_with_a_steps_column_is_not_a_log_this_version_reads(tmp_path):
    (tmp_path / "loss_log.json").write_text(json.dumps({"LOSSMANAGER_LOG": {
        "loss_functions": {"a": {"loss": [1.0], "weights": [1.0], "steps": [0]}}}}))
    with pytest.raises(DamagedLogError, match=r"has unknown keys \['steps'\]"):
        LossLog(tmp_path).read()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"experiment_dir": 5}, TypeError, "experiment_dir must be a path"),
    ({"experiment_dir": ".", "compact_every_append": "False"}, TypeError,
     "compact_every_append must be True or False, got 'False'"),
])
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        LossLog(**kwargs)


def test_non_finite_losses_are_kept(tmp_path):
    """A diverged run's values are records too: they read back as NaN and infinity."""
    with LossLog(tmp_path) as log:
        log.append({"a": ([1.0, float("nan")], [2.0, 2.0])})
        log.append({"a": ([float("inf")], [2.0])})
    data = json.loads((tmp_path / "loss_log.json").read_text())
    losses = data["LOSSMANAGER_LOG"]["loss_functions"]["a"]["loss"]
    assert losses[0] == 1.0 and math.isnan(losses[1]) and losses[2] == math.inf
