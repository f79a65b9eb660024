"""MkDocs hook: the API reference pages list every module of a package, found on disk.

A page containing ``<!-- xmodal:api PACKAGE -->`` gets the package's docstring followed by one
mkdocstrings block per module of that package (``src/PACKAGE/*.py``, without private modules),
so a new module appears in the reference without editing the page. Names a package re-exports
are documented once, in the module that defines them. ``PACKAGE`` may be ``xmodal`` itself: its
modules at the package root (configuration, errors, the command line) are listed.
"""

from __future__ import annotations

import re
from pathlib import Path

MARKER = re.compile(r"<!-- xmodal:api ([\w.]+) -->")


def _modules(src: Path, package: str) -> list[str]:
    folder = src.joinpath(*package.split("."))
    return [
        f"{package}.{path.stem}"
        for path in sorted(folder.glob("*.py"))
        if not path.stem.startswith("_")
    ]


def render_api(src: Path, package: str) -> str:
    """Markdown with the mkdocstrings blocks of ``package`` and its modules."""
    parts = [f"::: {package}", "    options:", "      members: false", ""]
    for module in _modules(src, package):
        parts += [f"::: {module}", ""]
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    """Replace each marker with the package's reference."""
    src = Path(config.config_file_path).parent / "src"
    return MARKER.sub(lambda match: render_api(src, match.group(1)), markdown)
