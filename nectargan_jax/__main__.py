"""``python -m nectargan_jax``: prints a table of the built-in schedules."""

from nectargan_jax._demo import main

main()
