"""The demo behind ``python -m nectargan_jax``: a table of schedule values."""

import jax.numpy as jnp
import numpy as np

from nectargan_jax import _demo


def test_schedule_table_values_by_hand():
    table = _demo.schedule_table(jnp.array([0, 10, 20, 30, 50, 60], jnp.int32))
    np.testing.assert_allclose(table["linear 100->0 [10,50]"], [100, 100, 75, 50, 0, 0],
                               atol=1e-4)
    # 1 * (1e-9 / 1) ** (20 / 40) = 10 ** -4.5
    np.testing.assert_allclose(table["exponential 1->0 [0,40]"][2], 10 ** -4.5, rtol=1e-5)
    # 10 * (1 - cos(pi / 2)) / 2 = 5 at epoch 30 of [0, 60]
    np.testing.assert_allclose(table["cosine 0->10 [0,60]"][3], 5.0, rtol=1e-6)
    np.testing.assert_allclose(table["warmup 10 + const 5"], [0, 5, 5, 5, 5, 5])
    # constant 2 until epoch 30, then 2 -> 0.5 over 20 epochs: 1.25 at 40 is not sampled;
    # at 50 the ramp has ended.
    np.testing.assert_allclose(table["join const 2 | lin"], [2, 2, 2, 2, 0.5, 0.5])


def test_main_prints_one_row_per_schedule(capsys):
    _demo.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["epoch", "0", "10", "20", "30", "40", "50", "60"]
    assert len(lines) == 1 + 5
