"""Joining a multi-process run: which launch the flags and the environment ask for, the
checks made before anything is written, and the command's errors for bad flags."""

import os
from pathlib import Path
import socket
import subprocess
import sys

import pytest

from nectargan_jax.train._cli import main
from nectargan_jax.train._distributed import (Launch, check_batch_split, detect_cluster,
                                              launch_from)

# What `srun -n 2` sets for its second task (the variables JAX's SLURM support reads).
SLURM_TWO_TASKS = {"SLURM_JOB_ID": "4711", "SLURM_STEP_NODELIST": "node[01-02]",
                   "SLURM_NTASKS": "2", "SLURM_PROCID": "1", "SLURM_LOCALID": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("environ, cluster", [
    ({}, None),
    (SLURM_TWO_TASKS, "slurm"),
    ({**SLURM_TWO_TASKS, "SLURM_NTASKS": "1"}, None),  # one task: a single process
    ({"SLURM_JOB_ID": "4711", "SLURM_NTASKS": "2"}, None),  # salloc shell, no srun step
    ({"OMPI_MCA_orte_hnp_uri": "1531576320.0;tcp://10.0.0.1:34911",
      "OMPI_COMM_WORLD_SIZE": "4"}, "openmpi"),
    ({"OMPI_MCA_orte_hnp_uri": "1531576320.0;tcp://10.0.0.1:34911",
      "OMPI_COMM_WORLD_SIZE": "1"}, None),
    ({"TPU_WORKER_HOSTNAMES": "t1k-0,t1k-1"}, "tpu"),
    ({"TPU_WORKER_HOSTNAMES": "t1k-0"}, None),
], ids=["none", "slurm", "slurm one task", "salloc", "openmpi", "openmpi one rank",
        "tpu pod", "one tpu host"])
def test_cluster_detection_reads_only_the_environment(environ, cluster):
    assert detect_cluster(environ) == cluster
    expected = None if cluster is None else Launch(cluster=cluster)
    assert launch_from(None, None, None, environ) == expected


def test_flags_win_over_a_detected_cluster():
    assert launch_from("10.0.0.1:1234", 2, 1, SLURM_TWO_TASKS) == \
        Launch("10.0.0.1:1234", 2, 1, None)


@pytest.mark.parametrize("flags, words", [
    ((None, 2, None), ["--num-processes=2 also needs --coordinator and --process-id"]),
    (("127.0.0.1:1234", None, None),
     ["--coordinator=127.0.0.1:1234 also needs --num-processes and --process-id"]),
    (("127.0.0.1:1234", 2, None), ["also needs --process-id"]),
    (("127.0.0.1:1234", 2, 2), ["--process-id=2 is out of range", "give 0 to 1"]),
    (("127.0.0.1:1234", 2, -1), ["--process-id=-1 is out of range"]),
    (("127.0.0.1:1234", 0, 0), ["--num-processes must be >= 1", "--num-processes=0"]),
    (("localhost", 2, 0), ["--coordinator must be HOST:PORT", "'localhost'"]),
    (("localhost:99999", 2, 0), ["--coordinator must be HOST:PORT", "'localhost:99999'"]),
])
def test_incomplete_or_out_of_range_flags(flags, words):
    with pytest.raises(ValueError) as error:
        launch_from(*flags, {})
    for word in words:
        assert word in str(error.value)


def test_the_global_batch_splits_over_every_process_device():
    check_batch_split(8, 2, 2)
    check_batch_split(6, 3, 1)
    with pytest.raises(ValueError, match=r"dataloader.batch_size=6 must be a multiple of "
                                         r"the 4 devices of all processes \(2 processes x "
                                         r"devices=2\)"):
        check_batch_split(6, 2, 2)
    with pytest.raises(ValueError, match=r"dataloader.batch_size=6 must be a multiple of "
                                         r"devices=4 \("):
        check_batch_split(6, 4, 1)


@pytest.mark.parametrize("flags, words", [
    (["--num-processes", "2"], "--num-processes=2 also needs --coordinator"),
    (["--coordinator", "127.0.0.1:1234"], "--coordinator=127.0.0.1:1234 also needs"),
    (["--coordinator", "127.0.0.1:1234", "--num-processes", "2", "--process-id", "3"],
     "--process-id=3 is out of range for --num-processes=2"),
    (["--heartbeat-timeout", "0"], "--heartbeat-timeout must be >= 1 second, got 0"),
])
def test_the_command_refuses_bad_flags_before_writing(tmp_path, capsys, flags, words):
    assert main(["train", "--output-dir", str(tmp_path / "out"), *flags]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unreachable_coordinator_is_an_error_within_the_timeout(tmp_path):
    # Process 1 of 2 waits for a coordinator that nobody started.
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    child = subprocess.run(
        [sys.executable, "-m", "nectargan_jax", "train", "--no-xla-cpu-flags",
         "--output-dir", str(tmp_path / "out"), "--coordinator", f"127.0.0.1:{free_port()}",
         "--num-processes", "2", "--process-id", "1", "--init-timeout", "3"],
        env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == 2, child.stderr[-2000:]
    last = child.stderr.strip().splitlines()[-1]
    assert last.startswith("nectargan-jax train: error: --coordinator 127.0.0.1:")
    assert "no coordinator answered within --init-timeout 3 s" in last
    assert not Path(tmp_path / "out").exists()
