"""MkDocs hook: the CLI reference, rendered from the argparse parser of ``xmodal.cli``.

A page containing the marker ``<!-- xmodal:cli -->`` gets, in its place, the help of the
``xmodal`` command and of every subcommand, exactly as ``xmodal CMD --help`` prints it, so the
reference cannot drift from the program.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

MARKER = "<!-- xmodal:cli -->"
WIDTH = 100  # help text width in columns (independent of the terminal running mkdocs)


def on_config(config):
    """Put the repository's ``src/`` first on the path, so the tree being documented is imported."""
    src = str(Path(config.config_file_path).parent / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    return config


def _help(parser: argparse.ArgumentParser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        return parser.format_help().rstrip()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def render_cli() -> str:
    """Markdown with the help of ``xmodal`` and each subcommand, in the parser's order."""
    from xmodal.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {a.dest: a.help for a in subparsers._choices_actions}
    parts = ["## `xmodal`", "", "```text", _help(parser), "```", ""]
    for name, sub in subparsers.choices.items():
        parts += [f"## `xmodal {name}`", ""]
        if summaries.get(name):
            parts += [summaries[name][:1].upper() + summaries[name][1:] + ".", ""]
        parts += ["```text", _help(sub), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    """Replace the marker with the rendered reference."""
    if MARKER in markdown:
        return markdown.replace(MARKER, render_cli())
    return markdown
