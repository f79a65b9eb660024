"""MkDocs hook: the configuration reference, generated from the dataclasses in ``xmodal.config``.

A page containing the marker ``<!-- xmodal:config -->`` gets one table per section of
:class:`xmodal.config.RunConfig` (``[data]``, ``[model]``, ``[training]``, ``[evaluation]``): every
key with its type, its default, the command-line option that sets it (from the parser of
``xmodal train``) and its meaning: the comment beside the field in ``src/xmodal/config.py``, else
the option's help.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import tokenize

MARKER = "<!-- xmodal:config -->"

#: meanings of the fields that have neither a comment in config.py nor an option with a help text
FALLBACK = {
    ("data", "path"): "dataset folder (the DATA argument of the command)",
    ("data", "use_cache"): "read and write the window cache (`--no-cache` sets false)",
}


def _field_comments(cls: type) -> dict[str, str]:
    """The trailing ``# comment`` (or the docstring below) of each annotated field of the class."""
    source = inspect.getsource(cls)
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    body = ast.parse(source).body[0].body
    found = {}
    for node, after in zip(body, body[1:] + [None]):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if node.end_lineno in comments:
            found[node.target.id] = comments[node.end_lineno]
        elif (
            isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):  # an attribute docstring
            found[node.target.id] = " ".join(after.value.value.split())
    return found


def _train_options() -> dict[tuple[str, str], tuple[str, str]]:
    """(section, key) -> (option string, help) of the ``xmodal train`` options setting it."""
    import argparse

    from xmodal import cli

    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flag_to_key = dict(getattr(cli, "_FLAG_TO_KEY", {}))
    flag_to_key.update(
        {
            "rates": ("data", "rates"),
            "labels": ("data", "labels"),
            "no_cache": ("data", "use_cache"),
        }
    )
    options = {}
    for action in subparsers.choices["train"]._actions:
        if action.dest == "data" and not action.option_strings:
            options[("data", "path")] = ("DATA", "")
        elif action.dest in flag_to_key and action.option_strings:
            flag = "/".join(o for o in action.option_strings if o.startswith("--"))
            options[flag_to_key[action.dest]] = (flag, action.help or "")
    return options


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "(required)"
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict) and not value:
        return "`{}`"
    return f"`{value!r}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_config() -> str:
    """Markdown: one table per configuration section."""
    from xmodal.config import RunConfig

    options = _train_options()
    parts = []
    for section in dataclasses.fields(RunConfig):
        cls = section.default_factory().__class__
        summary = (inspect.getdoc(cls) or "").split("\n")[0]
        summary = summary.split(" (see ")[0].rstrip(".")
        comments = _field_comments(cls)
        parts += [
            f"## `[{section.name}]`",
            "",
            f"{summary} (`xmodal.config.{cls.__name__}`).",
            "",
            "| key | type | default | option | meaning |",
            "|---|---|---|---|---|",
        ]
        for field in dataclasses.fields(cls):
            flag, help_text = options.get((section.name, field.name), ("", ""))
            meaning = (
                comments.get(field.name) or FALLBACK.get((section.name, field.name)) or help_text
            )
            parts.append(
                f"| `{field.name}` | `{_cell(str(field.type))}` | {_cell(_default(field))} "
                f"| {f'`{flag}`' if flag else ''} | {_cell(meaning)} |"
            )
        parts.append("")
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    """Replace the marker with the generated tables."""
    if MARKER in markdown:
        return markdown.replace(MARKER, render_config())
    return markdown
