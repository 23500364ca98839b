"""``nectargan-jax convert`` and the loading of a trained experiment's weights.

The other side is the PyTorch twin of the reference's models (``torch_pix2pix``, checked
against the reference itself) and files in the reference's checkpoint format, written
here with ``torch.save`` as the reference's trainer writes them.
"""

import json

import numpy as np
import pytest
import torch

from experiment_helpers import make_experiment, reference_experiment, twins
from nectargan_jax.train._cli import main
from nectargan_jax.train._trained import load_trained, weight_epochs


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """This project's experiment: an orbax checkpoint of epoch 2."""
    return make_experiment(tmp_path_factory.mktemp("convert"), epoch=2)


def outputs_agree(trained, twin_g, twin_d, seed=0):
    """The largest difference between our models' and the twins' outputs (eval mode)."""
    rng = np.random.default_rng(seed)
    x, y = (rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32) for _ in range(2))
    nhwc = lambda a: a.transpose(0, 2, 3, 1)  # noqa: E731
    ours_g = np.asarray(trained.models["G"](nhwc(x))).transpose(0, 3, 1, 2)
    ours_d = np.asarray(trained.models["D"](np.concatenate([nhwc(x), nhwc(y)], -1)))
    with torch.no_grad():
        theirs_g = twin_g(torch.from_numpy(x)).numpy()
        theirs_d = twin_d(torch.cat([torch.from_numpy(x), torch.from_numpy(y)], 1)).numpy()
    return max(np.abs(ours_g - theirs_g).max(),
               np.abs(ours_d.transpose(0, 3, 1, 2) - theirs_d).max())


def test_to_torch_writes_the_references_files_with_the_same_outputs(tmp_path, experiment,
                                                                   capsys):
    """Epoch 2 of an orbax checkpoint -> epoch2_net{G,D}.pth.tar beside the config, which
    the twin loads strictly (as the reference's tester does) and which then computes what
    ours does."""
    out = tmp_path / "for_the_reference"
    assert main(["convert", str(experiment), "--to", "torch", "--load-epoch", "2",
                 "--output", str(out)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {out / name}" for name in ("train1_config.json", "epoch2_netG.pth.tar",
                                           "epoch2_netD.pth.tar")]
    trained = load_trained(experiment, load_epoch=2, nets=("G", "D"), forms=("orbax",))
    assert json.loads((out / "train1_config.json").read_text()) == {
        "config": trained.config.to_dict()}
    twin_g, twin_d = twins(trained.config)
    for net, twin in (("G", twin_g), ("D", twin_d)):
        data = torch.load(out / f"epoch2_net{net}.pth.tar", weights_only=True)
        assert set(data) == {"state_dict", "optimizer"}
        twin.load_state_dict(data["state_dict"], strict=True)
    assert outputs_agree(trained, twin_g, twin_d) < 1e-5


def test_to_jax_reads_the_references_files(tmp_path, experiment, capsys):
    """The reference's files -> msgpack weights that load without torch and compute what
    the reference's models (the twin) compute; the files are also readable directly."""
    config = load_trained(experiment, load_epoch=2).config
    folder = tmp_path / "reference_v1"
    twin_g, twin_d = reference_experiment(folder, config, epoch=7, seed=1)
    out = tmp_path / "converted"
    assert main(["convert", str(folder), "--to", "jax", "-l", "7", "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "epoch7_netD.msgpack", "epoch7_netG.msgpack", "train1_config.json"]
    assert weight_epochs(out, "G") == {7: out / "epoch7_netG.msgpack"}
    for source, forms in ((out, ("msgpack",)), (folder, ("torch",))):
        trained = load_trained(source, load_epoch=7, nets=("G", "D"), forms=forms)
        assert outputs_agree(trained, twin_g, twin_d, seed=2) < 1e-5
    capsys.readouterr()


def test_the_epoch_is_the_configs_load_epoch_unless_given(tmp_path, experiment):
    """As the reference: ``train.load.load_epoch`` (1 in its default config) unless
    --load-epoch says; a missing epoch is refused, listing those there, and nothing
    is written."""
    before = sorted(p.name for p in experiment.iterdir())
    with pytest.raises(FileNotFoundError, match=r"no weights of epoch 1 \(load_epoch\) for net "
                                                r"G .*epochs there: \[2\]"):
        load_trained(experiment)
    config = tmp_path / "epoch2.json"
    saved = json.loads((experiment / "train1_config.json").read_text())
    saved["config"]["train"]["load"]["load_epoch"] = 2
    config.write_text(json.dumps(saved))
    assert load_trained(experiment, config_file=config).epoch == 2
    assert main(["convert", str(experiment), "--to", "torch", "-l", "5"]) == 2
    assert main(["convert", str(experiment), "--to", "jax", "-l", "2"]) == 2  # no .pth.tar
    assert sorted(p.name for p in experiment.iterdir()) == before


def test_weights_of_another_config_are_refused_before_anything_is_written(tmp_path,
                                                                          experiment, capsys):
    config = load_trained(experiment, load_epoch=2).config  # 4 features
    folder = tmp_path / "other_v1"
    eight = config.with_overrides({"train.generator.features": 8})  # the files: 8 features
    reference_experiment(folder, eight, epoch=3, seed=0)
    given = tmp_path / "four.json"
    given.write_text(config.to_json())  # the config given: 4
    out = tmp_path / "out"
    code = main(["convert", str(folder), "--to", "jax", "-l", "3", "-f", str(given),
                 "--output", str(out)])
    assert code == 2 and not out.exists()
    error = capsys.readouterr().err
    assert "epoch3_netG.pth.tar' do not fit the config's model" in error
    assert "initial_down.conv.0.weight: (8, 3, 4, 4) given, (4, 3, 4, 4) expected" in error
    (tmp_path / "bad_v1").mkdir()
    (tmp_path / "bad_v1" / "train1_config.json").write_text(config.to_json())
    (tmp_path / "bad_v1" / "epoch1_netG.msgpack").write_bytes(b"\x81\xa1a\x01")
    with pytest.raises(ValueError, match="do not fit the config's model .*names or shapes"):
        load_trained(tmp_path / "bad_v1")


def test_a_missing_torch_is_a_clear_error(tmp_path, experiment, monkeypatch, capsys):
    config = load_trained(experiment, load_epoch=2).config
    reference_experiment(tmp_path / "ref_v1", config, epoch=1, seed=0)
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # as if not installed
    assert main(["convert", str(tmp_path / "ref_v1"), "--to", "jax", "-l", "1"]) == 2
    assert "needs torch, which is not installed" in capsys.readouterr().err
    assert not list((tmp_path / "ref_v1").glob("*.msgpack"))
