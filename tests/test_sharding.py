"""Data parallel on 8 simulated CPU devices: same losses, weights and history as one device.

The device count must be set before jax is imported, so the check runs in a subprocess.
"""

import subprocess
import sys
import textwrap

from helpers import simulated_devices_env

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from nectargan_jax import LossManager
    from nectargan_jax.losses import l1, sobel
    from nectargan_jax.scheduling import Schedule

    assert len(jax.devices()) == 8, jax.devices()
    lm = (LossManager(capacity=10)
          .register("L1", l1, Schedule("linear", 0, 10, 10.0, 0.0))
          .register("SOBEL", sobel, 2.0))
    rng = np.random.default_rng(0)
    fake = jnp.asarray(rng.standard_normal((8, 16, 16, 3)), jnp.float32)
    real = jnp.asarray(rng.standard_normal((8, 16, 16, 3)), jnp.float32)

    def step(m, fake, real, epoch):
        (total, _, _), m = m.compute_many({"L1": (fake, real), "SOBEL": (fake, real)}, epoch)
        return total, m

    def run(m, fake, real):
        f = jax.jit(step)
        totals = []
        for e in range(10):
            t, m = f(m, fake * (1 + e), real, jnp.float32(e))
            totals.append(float(t))
        return totals, m.drain()[0]

    mesh = Mesh(np.array(jax.devices()), ("data",))
    batch = NamedSharding(mesh, P("data"))
    replicated = NamedSharding(mesh, P())
    sharded_lm = jax.device_put(lm, replicated)
    t1, r1 = run(lm, fake, real)
    t8, r8 = run(sharded_lm, jax.device_put(fake, batch), jax.device_put(real, batch))
    np.testing.assert_allclose(t8, t1, rtol=1e-5)
    for name in r1:
        np.testing.assert_allclose(r8[name][0], r1[name][0], rtol=1e-5)
        np.testing.assert_allclose(r8[name][1], r1[name][1], rtol=1e-6)
        assert r1[name][0].shape == (10,)
    print("OK")
""")


def test_data_parallel_on_eight_devices_matches_one_device():
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=simulated_devices_env(8),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK")
