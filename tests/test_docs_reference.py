"""The generated reference pages of the documentation cover every command and config key."""

import dataclasses
import importlib.util
from pathlib import Path

from xmodal.cli import build_parser
from xmodal.config import RunConfig

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_has_every_subcommand():
    text = _hook("gen_cli").render_cli()
    commands = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)
    for name in commands.choices:
        assert f"## `xmodal {name}`" in text
        assert f"usage: xmodal {name}" in text


def test_config_reference_describes_every_key():
    text = _hook("gen_config").render_config()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    for section in dataclasses.fields(RunConfig):
        assert f"## `[{section.name}]`" in text
        for field in dataclasses.fields(section.default_factory()):
            row = next(r for r in rows if r.startswith(f"| `{field.name}` |"))
            assert row.rstrip(" |").split("|")[-1].strip(), (
                f"{section.name}.{field.name} has no meaning"
            )


def test_api_reference_lists_every_module():
    hook = _hook("gen_api")
    src = DOCS.parent / "src"
    text = hook.render_api(src, "xmodal.signals")
    for path in (src / "xmodal" / "signals").glob("*.py"):
        if not path.stem.startswith("_"):
            assert f"::: xmodal.signals.{path.stem}" in text
