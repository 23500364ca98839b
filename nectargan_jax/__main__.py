"""``python -m nectargan_jax``: the ``nectargan-jax`` command (trains pix2pix by default)."""

from nectargan_jax.train._cli import main

raise SystemExit(main())
