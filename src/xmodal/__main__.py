"""``python -m xmodal`` and the ``xmodal`` command."""

from __future__ import annotations

import signal
import sys


def _terminate(signum: int, frame) -> None:
    raise SystemExit(_stopped("terminated (SIGTERM)", 128 + signal.SIGTERM))


def _stopped(what: str, code: int) -> int:
    sys.stderr.write(f"xmodal: {what}; run the same command again to resume\n")
    return code


def run() -> int:
    """Load the command line and run it; Ctrl-C or SIGTERM while it loads ends in one line
    too (from then on :func:`xmodal.cli.main` handles them)."""
    signal.signal(signal.SIGTERM, _terminate)  # main() puts it back when it returns
    try:
        from xmodal.cli import main
    except KeyboardInterrupt:
        return _stopped("interrupted", 128 + signal.SIGINT)
    return main()


if __name__ == "__main__":
    raise SystemExit(run())
