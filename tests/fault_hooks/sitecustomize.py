"""Test hook: holds an ``xmodal`` process at a known state so that a test can act on it there.

Python imports ``sitecustomize`` at start-up from ``PYTHONPATH``; the fault tests put this
folder there for the ``xmodal`` processes they start (and the Ray workers and spawned fold
workers those start, which inherit the environment). Nothing happens unless
``XMODAL_HOOK_DIR`` is set. Then:

- every fold that starts appends the process id to ``$XMODAL_HOOK_DIR/<fold>.attempts``;
- ``XMODAL_HOOK_BLOCK`` (comma-separated) names where a process stops and waits forever (until
  a signal ends it), after writing ``$XMODAL_HOOK_DIR/<point>.blocked``:
  ``import:<module>`` (start-up: before that module of xmodal is loaded), ``prepare`` (before
  the data is read), ``fold:<fold>`` (the first attempt of that fold, after it started) and
  ``write:<file name>`` (in the middle of writing that file: the temporary file holds data, the
  file itself is not there yet).

A test waits for the ``.blocked`` file, a state, never for a time.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import os
import sys
import time
from pathlib import Path

DIR = os.environ.get("XMODAL_HOOK_DIR")
BLOCK = {p for p in os.environ.get("XMODAL_HOOK_BLOCK", "").split(",") if p}


def _block(point: str) -> None:
    marker = Path(DIR) / f"{point.replace(':', '-')}.blocked"
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    tmp.replace(marker)
    while True:  # until a signal ends the process (or raises in it)
        time.sleep(3600)


def _patch_folds(module) -> None:
    run_fold = module.run_fold

    @functools.wraps(run_fold)
    def hooked(task, *args, **kwargs):
        name = task.fold.name
        with open(Path(DIR) / f"{name}.attempts", "a") as fh:
            fh.write(f"{os.getpid()}\n")
        attempts = (Path(DIR) / f"{name}.attempts").read_text().split()
        if f"fold:{name}" in BLOCK and len(attempts) == 1:
            _block(f"fold:{name}")
        return run_fold(task, *args, **kwargs)

    module.run_fold = hooked


def _patch_pipeline(module) -> None:
    prepare = module.prepare_subjects

    @functools.wraps(prepare)
    def hooked(*args, **kwargs):
        if "prepare" in BLOCK:
            _block("prepare")
        return prepare(*args, **kwargs)

    module.prepare_subjects = hooked


def _patch_files(module) -> None:
    write_stream = module.atomic_write_stream

    @functools.wraps(write_stream)
    def hooked(path, write):
        point = f"write:{Path(path).name}"
        if point not in BLOCK:
            return write_stream(path, write)

        def write_then_block(fh):
            write(fh)
            fh.flush()
            _block(point)

        return write_stream(path, write_then_block)

    module.atomic_write_stream = hooked


PATCHES = {
    "xmodal.training.folds": _patch_folds,
    "xmodal.signals.pipeline": _patch_pipeline,
    "xmodal.files": _patch_files,
}


class _Finder(importlib.abc.MetaPathFinder):
    """Patches a module of :data:`PATCHES` right after it is executed."""

    def find_spec(self, name, path, target=None):
        if name not in PATCHES and f"import:{name}" not in BLOCK:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            if f"import:{name}" in BLOCK:
                _block(f"import:{name}")
            exec_module(module)
            PATCHES.get(name, lambda module: None)(module)

        spec.loader.exec_module = exec_and_patch
        return spec


if DIR:
    sys.meta_path.insert(0, _Finder())
