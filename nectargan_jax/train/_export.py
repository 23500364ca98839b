"""``nectargan-jax export --onnx``: a trained generator as an ONNX file.

The generator of one epoch (``load_trained``), in eval mode, is traced by jax2onnx into
an ONNX graph with its weights as constants. Like the reference's ONNX converter, the
graph takes and returns one NCHW float32 image in [-1, 1], ``(1, input_nc, crop_size,
crop_size)``, named ``input`` and ``output``, and is written to
``<experiment>/epoch<e>.onnx`` by default.

The generator is built with ``conv_impl='xla'`` whatever the config says: its
convolutions become ONNX ``Conv`` and ``ConvTranspose`` nodes, which ONNX runtimes
optimise, rather than the CPU forms XLA needs (the same numbers).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flax import nnx
import jax
import jax.numpy as jnp

from nectargan_jax import _files as files
from nectargan_jax.train._trained import load_trained

JAX2ONNX_MISSING = ("ONNX export needs jax2onnx, which is not installed: pip install "
                    "'nectargan_jax[export]' (or jax2onnx).")
OPSET = 17  # the reference's converter's


def export_onnx(experiment: str | os.PathLike, *, load_epoch: int | None = None,
                config_file: str | os.PathLike | None = None,
                output: str | os.PathLike | None = None, opset: int = OPSET) -> Path:
    """Writes the generator of one epoch of ``experiment`` as an ONNX model.

    Args:
      experiment: a trained experiment folder (see ``load_trained``).
      load_epoch: the epoch; None = the config's ``train.load.load_epoch``.
      config_file: the config (default: the folder's newest ``train<k>_config.json``).
      output: the file (default: ``<experiment>/epoch<e>.onnx``).
      opset: the ONNX opset.

    Returns:
      The file written.

    Raises:
      ImportError: jax2onnx is not installed; FileNotFoundError, ValueError: see
      ``load_trained``. All before anything is written.
    """
    try:
        import jax2onnx
    except ImportError:
        raise ImportError(JAX2ONNX_MISSING) from None
    trained = load_trained(experiment, load_epoch=load_epoch, config_file=config_file,
                           overrides={"train.generator.conv_impl": "xla"})
    load = trained.config.dataloader.load
    graphdef, state = nnx.split(trained.generator)

    def generator_nchw(x: jax.Array) -> jax.Array:
        model = nnx.merge(graphdef, state)
        return jnp.transpose(model(jnp.transpose(x, (0, 2, 3, 1))), (0, 3, 1, 2))

    serde = logging.getLogger("onnx_ir.serde")  # notes on shape constants it leaves untyped
    level = serde.level
    serde.setLevel(logging.ERROR)
    try:
        # jax2onnx's own layers (it replaces nnx.Conv) broadcast biases by rank promotion.
        with jax.numpy_rank_promotion("allow"):
            model = jax2onnx.to_onnx(
                generator_nchw, [(1, load.input_nc, load.crop_size, load.crop_size)],
                model_name="generator", opset=opset, input_names=["input"],
                output_names=["output"])
    finally:
        serde.setLevel(level)
    path = Path(output) if output is not None else \
        trained.experiment / f"epoch{trained.epoch}.onnx"
    return files.write_bytes_atomic(path, model.SerializeToString())
