"""MkDocs hook: the configuration reference, generated from the dataclasses in ``xmodal.config``.

A page containing the marker ``<!-- xmodal:config -->`` gets one table per section of
:class:`xmodal.config.RunConfig` (``[data]``, ``[model]``, ``[training]``, ``[evaluation]``): every
key with its type, its default, the command-line option that sets it and its meaning, all from
the key's declaration (:func:`xmodal.config.setting`), from which the options of ``xmodal train``
are made too.
"""

from __future__ import annotations

import dataclasses
import inspect

MARKER = "<!-- xmodal:config -->"


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
    from xmodal.cli import option_of
    from xmodal.config import RunConfig

    parts = []
    for section in dataclasses.fields(RunConfig):
        cls = section.default_factory().__class__
        summary = (inspect.getdoc(cls) or "").split("\n")[0]
        summary = summary.split(" (see ")[0].rstrip(".")
        parts += [
            f"## `[{section.name}]`",
            "",
            f"{summary} (`xmodal.config.{cls.__name__}`).",
            "",
            "| key | type | default | allowed | option | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for field in dataclasses.fields(cls):
            flag = option_of(field) or ("DATA" if field.name == "path" else "")
            meaning = field.metadata.get("help", "")
            allowed = field.metadata.get("range")
            allowed = (
                allowed.describe()
                if allowed is not None
                else " \\| ".join(field.metadata.get("choices", ()))
            )
            parts.append(
                f"| `{field.name}` | `{_cell(str(field.type))}` | {_cell(_default(field))} "
                f"| {allowed} "
                f"| {f'`{flag}`' if flag else ''} | {_cell(meaning)} |"
            )
        parts.append("")
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    """Replace the marker with the generated tables."""
    if MARKER in markdown:
        return markdown.replace(MARKER, render_config())
    return markdown
