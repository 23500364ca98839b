"""A short demo: the built-in schedules evaluated, jitted and vectorised, as a table."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nectargan_jax.scheduling import Schedule, constant, join_schedules, warmup


def schedule_table(epochs: jax.Array) -> dict[str, jax.Array]:
    """Values of a few example schedules at ``epochs`` (one jitted, vmapped call each)."""
    examples = {
        "linear 100->0 [10,50]": Schedule("linear", 10, 50, 100.0, 0.0),
        "exponential 1->0 [0,40]": Schedule("exponential", 0, 40, 1.0, 0.0),
        "cosine 0->10 [0,60]": Schedule("cosine", 0, 60, 0.0, 10.0),
        "warmup 10 + const 5": warmup(constant(5.0), 10),
        "join const 2 | lin": join_schedules(
            [constant(2.0), Schedule("linear", 0, 20, 2.0, 0.5)], [30]),
    }
    evaluate = jax.jit(jax.vmap(lambda s, e: s(e), in_axes=(None, 0)))
    return {name: evaluate(s, epochs) for name, s in examples.items()}


def main() -> None:
    """Prints the table."""
    epochs = jnp.arange(0, 61, 10, dtype=jnp.int32)
    table = schedule_table(epochs)
    width = max(len(n) for n in table)
    print(f"{'epoch':<{width}} " + " ".join(f"{int(e):>10d}" for e in epochs))
    for name, values in table.items():
        print(f"{name:<{width}} " + " ".join(f"{float(v):>10.4g}" for v in values))


if __name__ == "__main__":
    main()
