"""``nectargan-jax export --onnx``: the ONNX file computes what the generator computes."""

import numpy as np
import pytest

from experiment_helpers import make_experiment
from nectargan_jax.train._cli import main
from nectargan_jax.train._trained import load_trained

pytest.importorskip("jax2onnx", reason="jax2onnx is not installed (pip install "
                                       "'nectargan_jax[export]'): ONNX export is not tested")
onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip "
                                                        "install 'nectargan_jax[export]'): the "
                                                        "exported file cannot be run")
onnx = pytest.importorskip("onnx", reason="onnx is not installed (jax2onnx needs it)")


# One down block at 8x8 pixels: every kind of layer, few of each (the export's time grows
# with the number of operations).
SHALLOW = {"train.generator.n_downs": 1, "dataloader.load.crop_size": 8,
           "dataloader.load.load_size": 8}


@pytest.mark.parametrize("generator", [
    {}, {"train.generator.block_type": "ResidualUnetBlock",
         "train.generator.upsample_type": "Bilinear"}], ids=["transposed", "residual bilinear"])
def test_onnx_file_matches_the_generator(tmp_path, generator, capsys):
    """Run by onnxruntime on an NCHW image, the file gives the JAX generator's output
    (eval mode) within 1e-4, with the reference's converter's names and default path."""
    experiment = make_experiment(tmp_path, epoch=3, **SHALLOW, **generator)
    assert main(["export", str(experiment), "--onnx", "-l", "3"]) == 0
    path = experiment / "epoch3.onnx"
    assert capsys.readouterr().out.strip() == f"wrote {path}"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("input", [1, 3, 8, 8])]
    assert [o.name for o in session.get_outputs()] == ["output"]
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
    (got,) = session.run(None, {"input": x})
    generator = load_trained(experiment, load_epoch=3).generator
    want = np.asarray(generator(x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    assert got.shape == want.shape and np.abs(want).max() > 0.01
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    # Built with conv_impl='xla' (the CPU forms are for XLA): ONNX's own convolutions.
    operators = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"Conv", "ConvTranspose"} <= operators and "Einsum" not in operators


def test_export_refuses_bad_input_before_writing(tmp_path, monkeypatch, capsys):
    experiment = make_experiment(tmp_path, epoch=3)
    before = sorted(p.name for p in experiment.iterdir())
    assert main(["export", str(experiment), "-l", "3"]) == 2
    assert "export needs a format: --onnx" in capsys.readouterr().err
    assert main(["export", str(experiment), "--onnx", "-l", "4"]) == 2
    assert "no weights of epoch 4" in capsys.readouterr().err
    monkeypatch.setitem(__import__("sys").modules, "jax2onnx", None)  # as if not installed
    assert main(["export", str(experiment), "--onnx", "-l", "3"]) == 2
    assert "ONNX export needs jax2onnx, which is not installed" in capsys.readouterr().err
    assert sorted(p.name for p in experiment.iterdir()) == before
