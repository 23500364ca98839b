"""The command's allocator settings on a CPU: a call's large temporary buffer is reused by
the next call instead of being mapped and zeroed again (counted in page faults).

glibc's settings are per process and set before JAX starts, so the effect is measured in
fresh processes.
"""

import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

from nectargan_jax import _cpu_memory
from nectargan_jax._cpu_memory import computes_on_cpu
from nectargan_jax._cpu_memory import keep_freed_memory
from nectargan_jax._xla_flags import SWITCH

ROOT = Path(__file__).resolve().parents[1]
LINUX_GLIBC = sys.platform == "linux" and _cpu_memory.platform.libc_ver()[0] == "glibc"

# A jitted function whose first product is a 64 MiB temporary (16,384 pages of 4 KiB):
# the minor page faults of its last 8 of 32 calls (with the settings the heap grows by a
# few such buffers over the first calls, as small allocations split freed ones, and
# then stays). The first argument is "script" (a script calls keep_freed_memory first)
# or "command" (``nectargan-jax`` run as a program with its ``train`` replaced by the
# probe, taking the remaining arguments).
PROBE = """
import json, resource, sys

def faults(applied=None):
    import jax, jax.numpy as jnp
    f = jax.jit(lambda x, w, v: (x @ w) @ v)
    x, w, v = jnp.ones((4096, 8)), jnp.ones((8, 4096)), jnp.ones((4096, 1))
    for _ in range(24):
        f(x, w, v).block_until_ready()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(8):
        f(x, w, v).block_until_ready()
    print(json.dumps({"applied": applied,
                      "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))

mode = sys.argv[1]
if mode == "command":
    import nectargan_jax.train._loop as loop
    loop.train = lambda config, **kwargs: faults()
    from nectargan_jax.train._cli import main
    sys.argv = ["nectargan-jax", *sys.argv[2:]]
    raise SystemExit(main())
from nectargan_jax._cpu_memory import keep_freed_memory
faults(keep_freed_memory())
"""
BUFFER_PAGES = 64 * 2**20 // 4096
# A 2.125 GiB buffer malloc'ed, written and freed three times, straight from glibc (in
# XLA's calls the heap settles after a varying number of calls): the faults of the last
# two. 2.125 GiB is above any threshold M_TRIM_THRESHOLD can be given but -1 (off); the
# default config's training step at batch 16 has a 2.57 GB temporary buffer.
LARGE_PROBE = """
import ctypes, json, resource
from nectargan_jax._cpu_memory import keep_freed_memory
applied = keep_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
SIZE = 17 * 2**27

def use():
    buffer = libc.malloc(SIZE)
    ctypes.memset(buffer, 1, SIZE)
    libc.free(buffer)

use()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
use()
use()
print(json.dumps({"applied": applied,
                  "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""
LARGE_PAGES = 17 * 2**27 // 4096


def probe(*args):
    return run_fresh(PROBE, *args)


def run_fresh(source, *args):
    """Runs ``source`` in a fresh Python on the CPU, without our switch or glibc tunables
    from this environment; returns the JSON of its last line."""
    env = {k: v for k, v in os.environ.items() if k not in (SWITCH, "GLIBC_TUNABLES")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["JAX_PLATFORMS"] = "cpu"
    out = subprocess.run([sys.executable, "-c", source, *args], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not LINUX_GLIBC, reason="the settings are glibc's (Linux)")
def test_a_calls_temporary_buffer_is_reused_by_the_next_call_in_the_command_and_a_script():
    script = probe("script")
    assert script["applied"] is True
    # At most one more buffer of heap growth among the counted calls (where the heap
    # settles varies from run to run); without the settings every call faults one in.
    assert script["faults"] < 1.5 * BUFFER_PAGES
    assert probe("command", "train")["faults"] < 1.5 * BUFFER_PAGES
    # Without the settings glibc maps the buffer afresh and the kernel faults it in.
    assert probe("command", "train", "--no-xla-cpu-flags")["faults"] > 6 * BUFFER_PAGES


@pytest.mark.skipif(not LINUX_GLIBC, reason="the settings are glibc's (Linux)")
def test_a_temporary_buffer_over_2_gib_is_reused_too():
    """glibc hands the top of its heap back to the system once it is over the trim
    threshold, which takes at most 2**31 - 1 as a number: a 2 GiB threshold let the
    batch-16 step's buffer be unmapped and faulted in again on every step."""
    seen = run_fresh(LARGE_PROBE)
    assert seen["applied"] is True
    assert seen["faults"] < LARGE_PAGES // 8


# Batches through ``prefetch`` (copied to the device in its thread), then a jitted call on
# each that records the thread it runs on: whether each batch was ready when handed over
# and how many calls ran on the main thread (the dispatching one).
PREFETCH_PROBE = """
import json, threading
from nectargan_jax._cpu_memory import keep_freed_memory
keep_freed_memory()
import jax, jax.numpy as jnp, numpy as np
from nectargan_jax.train import prefetch

threads = []

@jax.jit
def step(x, y):
    jax.debug.callback(lambda: threads.append(threading.get_native_id()))
    return jnp.sum(x * y)

items = [(np.full((16, 256, 256, 3), i, np.float32), np.ones((16, 256, 256, 3), np.float32))
         for i in range(8)]
step(*items[0]).block_until_ready()
threads.clear()
ready = []
for x, y in prefetch(iter(items), size=2):
    ready.append(x.is_ready() and y.is_ready())
    step(x, y).block_until_ready()
main = threading.get_native_id()
print(json.dumps({"ready": ready, "on_main": sum(t == main for t in threads)}))
"""


@pytest.mark.skipif(not LINUX_GLIBC, reason="the settings are glibc's (Linux)")
def test_a_step_on_prefetched_batches_runs_on_the_dispatching_thread():
    """XLA's CPU runtime runs a call whose inputs are still being copied on a thread of its
    own once they are, where glibc maps a large buffer afresh every time: the command's
    step at batch 16 faulted in its 2.57 GB buffer every step (640,000 page faults) until
    ``prefetch`` handed over batches already copied."""
    assert run_fresh(PREFETCH_PROBE) == {"ready": [True] * 8, "on_main": 8}


@pytest.mark.parametrize("platforms, expected", [
    ("cpu", True), (" CPU ", True), ("cpu,cuda", True), ("cuda", False), ("tpu,cpu", False),
])
def test_jax_platforms_decides_the_backend(platforms, expected):
    assert computes_on_cpu({"JAX_PLATFORMS": platforms}) is expected


def test_an_installed_accelerator_plugin_means_no_cpu_settings(monkeypatch):
    monkeypatch.setattr(_cpu_memory.importlib.metadata, "entry_points",
                        lambda group: ["jax_cuda12_plugin"] if group == "jax_plugins" else [])
    assert computes_on_cpu({}) is False
    assert keep_freed_memory({}) is False
    assert computes_on_cpu({"JAX_PLATFORMS": "cpu"}) is True


@pytest.mark.parametrize("environ", [
    {SWITCH: "0"}, {SWITCH: " Off "}, {"JAX_PLATFORMS": "cuda"},
])
def test_switched_off_or_not_on_a_cpu_changes_nothing(environ, monkeypatch):
    monkeypatch.setattr(_cpu_memory.ctypes, "CDLL", lambda name: pytest.fail("C library used"))
    assert keep_freed_memory(environ) is False
