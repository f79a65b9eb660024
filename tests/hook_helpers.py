"""Starting ``xmodal`` under the test hook (``fault_hooks/sitecustomize.py``) and waiting for the
state it holds a process in."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

HOOKS = Path(__file__).parent / "fault_hooks"


def hooked_env(hook: Path, block: str = "", env: dict | None = None) -> dict:
    """``env`` (default: this process's) with the hook on: it records fold attempts in ``hook``
    and holds the points named in ``block``."""
    hook.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOKS), env.get("PYTHONPATH")) if p)
    env.update(XMODAL_HOOK_DIR=str(hook), XMODAL_HOOK_BLOCK=block)
    return env


def wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Return once ``path`` exists (a state the process reached and is held in); fail if the
    process ends first. No time limit: the held process cannot go on by itself, so there is
    no race to lose on a slow machine."""
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"ended before {path.name}: {proc.communicate()[1][-2000:]}")
        time.sleep(0.05)
