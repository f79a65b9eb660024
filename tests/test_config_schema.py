"""The configuration schema: every key of ``RunConfig`` is declared once
(:func:`xmodal.config.setting`) and is an option of ``xmodal train`` whose help states the
default and the allowed names; a wrong value is refused with a ConfigError."""

import argparse
import dataclasses
import re

import pytest

from xmodal.cli import build_parser, config_from_args, setting_dests
from xmodal.config import RunConfig
from xmodal.errors import ConfigError

#: keys whose values are names of things the run finds (files, folders, subjects, signals,
#: adapters, tasks, registered models): checked where they are looked up, with the file or
#: folder in the message, not by the configuration
LOOKED_UP = {
    ("data", "path"),
    ("data", "dataset"),
    ("data", "modalities"),
    ("data", "subjects"),
    ("data", "task"),
    ("data", "cache_dir"),
    ("data", "labels"),
    ("data", "calibration_label"),
    ("model", "name"),
    ("model", "network_modalities"),
    ("training", "init"),
    ("evaluation", "test_subjects"),
}


def _keys():
    for section in dataclasses.fields(RunConfig):
        for field in dataclasses.fields(section.default_factory()):
            yield section.name, field.name, getattr(section.default_factory(), field.name)


def _train_actions() -> dict[str, argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices["train"]._actions}


def _wrong(default):
    """A value of the right type that no setting accepts, or one of the wrong type."""
    if isinstance(default, bool):
        return "yes"
    if isinstance(default, int):
        return -(10**9)
    if isinstance(default, float):
        return -1e9
    if isinstance(default, str):
        return "no-such-value"
    if isinstance(default, dict):
        return {"chest.ECG": -5.0}
    return [-(10**9)]  # tuples of numbers; tuples of names are LOOKED_UP


def test_every_key_has_an_option_with_help_and_its_default():
    actions = _train_actions()
    flags = {key: dest for dest, key in setting_dests().items()}
    flags["data", "path"] = "data"  # the DATA argument
    for section, key, default in _keys():
        assert (section, key) in flags, f"[{section}] {key} has no option in xmodal train"
        action = actions[flags[section, key]]
        assert action.help, f"{action.option_strings or key} has no help"
        if key == "path":
            continue
        assert "default" in action.help, f"{action.option_strings}: no default in the help"
        choices = dataclasses.fields(getattr(RunConfig(), section))
        choices = next(f for f in choices if f.name == key).metadata["choices"]
        if choices:  # the allowed names are shown
            assert action.metavar == "{" + ",".join(choices) + "}", action.option_strings
        # a default the help states as a number is the configuration's
        stated = re.search(r"\(default (-?[0-9.]+)[);]", action.help)
        if stated and not isinstance(default, (tuple, bool)):
            assert float(stated.group(1)) == float(default), (action.option_strings, default)


@pytest.mark.parametrize(
    "section,key,default", [k for k in _keys() if (k[0], k[1]) not in LOOKED_UP]
)
def test_every_key_refuses_a_wrong_value(section, key, default):
    with pytest.raises(ConfigError):
        config = RunConfig().updated({section: {key: _wrong(default)}})
        config.model.resolved()


def test_new_options_reach_the_configuration(tmp_path):
    parser = build_parser()
    args = parser.parse_args(
        [
            "train",
            str(tmp_path),
            "--out",
            str(tmp_path / "run"),
            "--widths",
            "8,16",
            "--kernels",
            "5,3",
            "--no-batch-norm",
            "--weight-decay",
            "0.05",
            "--threads",
            "-1",
            "--no-amp",
            "--no-stack-members",
            "--head-hidden",
            "32",
            "--convs-per-block",
            "1",
            "--pool-size",
            "4",
            "--pool-stride",
            "2",
            "--connections",
            "1,2",
        ]
    )
    config = config_from_args(args)
    assert config.model.widths == (8, 16) and config.model.kernels == (5, 3)
    assert not config.model.batch_norm and config.model.head_hidden == 32
    assert config.model.convs_per_block == 1
    assert (config.model.pool_size, config.model.pool_stride) == (4, 2)
    assert config.training.weight_decay == 0.05 and config.training.threads == -1
    assert not config.training.amp and not config.training.stack_members
