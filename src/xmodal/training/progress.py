"""Progress reporting: tqdm bars on a terminal, one line per fold otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


class Progress:
    """Reports preprocessing, epochs and folds.

    Parameters
    ----------
    stream : file, optional
        Where to write (default stderr).
    bars : bool or None
        Show tqdm bars; ``None`` -> only when ``stream`` is a terminal.
    quiet : bool
        Print nothing.
    """

    def __init__(self, stream: TextIO | None = None, bars: bool | None = None, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.bars = (not quiet) and (self.stream.isatty() if bars is None else bars)
        self._bar: tqdm | None = None
        self._tasks: tqdm | None = None

    def line(self, text: str) -> None:
        if self.quiet:
            return
        bar = self._bar or self._tasks
        if bar is not None:
            bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def subject(self, subject: str, cache_hit: bool) -> None:
        if self.bars:
            self.line(f"  {subject}: {'from cache' if cache_hit else 'loaded and preprocessed'}")

    def fold_start(self, label: str, epochs: int) -> None:
        if self.bars:
            self._bar = tqdm(total=epochs, desc=label, unit="epoch", file=self.stream, leave=False)

    def epoch(self, record: dict) -> None:
        if self._bar is not None:
            post = {k: f"{v:.3f}" for k, v in record.items() if k in ("train_loss", "val_macro_f1")}
            self._bar.set_postfix(post)
            self._bar.update(1)

    def fold_end(self, text: str) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.line(text)

    def tasks_start(self, label: str, total: int) -> None:
        """One bar over tasks that run elsewhere (e.g. folds on a Ray cluster)."""
        if self.bars and total:
            self._tasks = tqdm(total=total, desc=label, unit="fold", file=self.stream, leave=False)

    def task_done(self) -> None:
        if self._tasks is not None:
            self._tasks.update(1)

    def tasks_end(self) -> None:
        if self._tasks is not None:
            self._tasks.close()
            self._tasks = None
