"""What a run says at its start: the device JAX uses, unused GPU ids, epochs at lr 0."""

import jax
import pytest

from nectargan_jax.train import load_config
from nectargan_jax.train._notes import startup_notes

CPU = jax.devices("cpu")[0]


def _zero_lr_epochs(config, which, epochs):
    """1-based epochs of a run of ``epochs`` whose learning rate is 0, read off the
    schedule itself (stepped per epoch from 0)."""
    schedule = config.train.learning_rate_schedule(which)
    return [e + 1 for e in range(epochs) if float(schedule(e)) == 0.0]


def test_a_config_the_run_follows_as_written_says_nothing():
    assert startup_notes(load_config(), 200, CPU) == []
    assert startup_notes(load_config(overrides={"common.device": "cpu:0"}), 5, CPU) == []


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "cpu:1", "tpu"])
def test_a_device_jax_does_not_run_on_names_both(device):
    notes = startup_notes(load_config(overrides={"common.device": device}), 200, CPU)
    assert notes == [f"common.device is {device!r}, but JAX runs on {CPU} (platform 'cpu', "
                     "its default backend): training runs there (JAX_PLATFORMS chooses the "
                     "backend)."]


def test_gpu_ids_other_than_the_default_are_said_to_be_unused():
    notes = startup_notes(load_config(overrides={"common.gpu_ids": [0, 1]}), 200, CPU)
    assert len(notes) == 1 and notes[0].startswith("common.gpu_ids is [0, 1], which this "
                                                   "trainer does not use")


def test_epochs_past_the_end_of_the_learning_rate_schedule_are_counted():
    config = load_config()
    zero = _zero_lr_epochs(config, "generator", 203)
    assert zero == [201, 202, 203]
    assert startup_notes(config, 203, CPU) == [
        "epochs=203 runs past the end of train.generator.learning_rate: from epoch 201 on "
        "the learning rate is its target, 0, so the generator and the discriminator do not "
        "learn in the last 3 epochs."]
    assert startup_notes(config, 200, CPU) == []  # its last epoch still learns
    assert _zero_lr_epochs(config, "generator", 200) == []
    still = load_config(overrides={"train.generator.learning_rate.target": 1e-5})
    assert startup_notes(still, 300, CPU) == []


def test_separate_schedules_are_checked_each():
    config = load_config(overrides={
        "train.separate_lr_schedules": True,
        "train.discriminator.learning_rate": {"epochs": 2, "epochs_decay": 3}})
    zero = _zero_lr_epochs(config, "discriminator", 8)
    assert zero == [6, 7, 8]
    assert startup_notes(config, 8, CPU) == [
        "epochs=8 runs past the end of train.discriminator.learning_rate: from epoch 6 on "
        "the learning rate is its target, 0, so the discriminator does not learn in the "
        "last 3 epochs."]


def test_a_learning_rate_of_0_throughout_is_said():
    config = load_config(overrides={"train.generator.learning_rate.initial": 0.0})
    assert startup_notes(config, 10, CPU) == [
        "train.generator.learning_rate is 0 throughout (initial and target 0): the "
        "generator and the discriminator do not learn."]
