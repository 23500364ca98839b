"""The training job's ``train.health``: off unless asked for, checked like every key,
and each flush of a run prints the GAN health events since the previous one."""

import json
import shutil

import pytest

from nectargan_jax.train import HealthConfig, load_config
from nectargan_jax.train._loop import train
from train_helpers import tiny_config


def test_the_training_job_turns_the_checks_on_from_its_config_and_prints_them(tmp_path):
    assert load_config().train.health is None  # off unless asked for
    assert "health" not in load_config().to_dict()["train"]
    with pytest.raises(ValueError, match="unknown config key.*'train.health.patience'"):
        load_config(overrides={"train.health": {"patience": 3}})
    with pytest.raises(ValueError, match="'train.health.collapse_patience' must be of type int"):
        load_config(overrides={"train.health.collapse_patience": 2.5})
    # Every BCE is below 100: D collapses from the first step, flagged from step 1.
    config = tiny_config(tmp_path, **{"train.health.collapse_threshold": 100.0,
                                      "train.health.collapse_patience": 2,
                                      "save.save_model": False, "save.save_examples": False})
    assert config.train.health == HealthConfig(collapse=True, collapse_threshold=100.0,
                                               collapse_patience=2, non_finite=True,
                                               clamped=True)
    lines = []
    result = train(config, epochs=1, synthetic_pairs=8, log_every=2, progress=False,
                   echo=lines.append)
    reports = [line for line in lines if line.startswith("GAN health")]
    assert reports == [
        "GAN health: discriminator collapse: 'D_real' and 'D_fake' both below 100 for 2 "
        "consecutive steps, flagged at 1 step since the last report, first at step 1 "
        "(epoch 0); still collapsed at the end (a run of 2 steps).",
        "GAN health: discriminator collapse continues: 'D_real' and 'D_fake' both below 100 "
        "for 2 consecutive steps, flagged at 2 steps since the last report, first at step 2 "
        "(epoch 0); still collapsed at the end (a run of 4 steps)."]
    assert result.state.manager.health is not None
    saved = json.loads(next(result.experiment.dir.glob("train*_config.json")).read_text())
    assert saved["config"]["train"]["health"]["collapse_patience"] == 2


def _health_lines(lines):
    return [line for line in lines if line.startswith("GAN health")]


def test_a_resume_does_not_report_again_the_events_of_the_steps_it_recomputes(tmp_path):
    """A run killed after logging epoch 2 but before its checkpoint resumes from epoch 1:
    epoch 2's steps are computed again and, like their records, their health events
    are not reported twice; the epoch after them is reported as usual."""
    config = tiny_config(tmp_path, **{"train.health.collapse_threshold": 100.0,
                                      "train.health.collapse_patience": 2,
                                      "save.save_examples": False})
    run = {"synthetic_pairs": 8, "log_every": 2, "progress": False}
    first = []
    result = train(config, epochs=2, echo=first.append, **run)
    # Windows of 2 steps, 4 steps an epoch: 4 reports, steps 1 (the run's 2nd), 2, 4, 6.
    assert [line.split("first at ")[1][:6] for line in _health_lines(first)] == [
        "step 1", "step 2", "step 4", "step 6"]
    shutil.rmtree(result.experiment.checkpoints / "2")
    again = []
    train(config, epochs=2, resume=True, echo=again.append, **run)
    assert _health_lines(again) == []
    log = json.loads(result.experiment.log.read_text())["LOSSMANAGER_LOG"]
    assert {len(entry["loss"]) for entry in log["loss_functions"].values()} == {8}
    more = []
    train(config, epochs=3, resume=True, echo=more.append, **run)
    assert _health_lines(more) == [
        "GAN health: discriminator collapse continues: 'D_real' and 'D_fake' both below 100 "
        f"for 2 consecutive steps, flagged at 2 steps since the last report, first at step "
        f"{step} (epoch 2); still collapsed at the end (a run of {step + 2} steps)."
        for step in (8, 10)]
