"""Plots of predictions and attention over a recording (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xmodal.evaluation.plots import plot_attention, plt, save_figure
from xmodal.inference.table import PredictionTable

#: most points drawn per signal trace (decimated by striding; keeps PNGs small)
MAX_POINTS = 6000


def _trace(x: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    step = max(1, len(x) // MAX_POINTS)
    return np.arange(0, len(x), step) / rate, x[::step]


def _shade(ax, segments, events=()) -> None:
    for start, end, c in segments or ():
        ax.axvspan(start, end, color=f"C{c}", alpha=0.12, lw=0)
    for t in events:
        ax.axvline(t, color="0.3", lw=0.7, ls="--")


#: spacings (s) of wall-clock ticks; the smallest giving at most 10 ticks is used
CLOCK_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def _clock_axis(ax, start_unix: float, timezone: str | None, duration: float) -> str:
    """Ticks at round wall-clock times, labelled HH:MM; returns the axis label."""
    from matplotlib.ticker import FixedLocator, FuncFormatter

    from xmodal.data.recording import clock_time, wall_clock

    day = wall_clock(start_unix, timezone)
    utc_offset = clock_time(start_unix, timezone).utcoffset().total_seconds()
    step = next((s for s in CLOCK_STEPS if duration / s <= 10), CLOCK_STEPS[-1])
    first = -((start_unix + utc_offset) % step)
    ax.xaxis.set_major_locator(FixedLocator(np.arange(first, duration + step, step)))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda t, _: wall_clock(start_unix + t, timezone)[11:16])
    )
    return f"wall-clock time, {day[:10]} (UTC{day[19:] or '+00:00'}; probability at window centre)"


def plot_predictions(
    signals: dict,
    rates: dict,
    table: PredictionTable,
    path: Path,
    title: str = "",
    segments=None,
    events=(),
) -> None:
    """Signals on top (one panel per modality), class probabilities over time below.

    Parameters
    ----------
    segments : list of (start_s, end_s, class_index), optional
        True labelled segments, shaded in the class's colour in every panel and named on top.
    events : sequence of float
        Marked moments (E4 tags, seconds), drawn as dashed lines and numbered on top.
    table
        Its ``start_unix`` (and ``timezone``), when set, label the time axis in wall-clock time.
    """
    mods = list(signals)
    fig, axes = plt.subplots(
        len(mods) + 1,
        1,
        figsize=(12, 1.6 * len(mods) + 3),
        sharex=True,
        gridspec_kw={"height_ratios": [1] * len(mods) + [2]},
    )
    for ax, m in zip(axes, mods):
        x = np.asarray(signals[m])
        x = x[:, 0] if x.ndim == 2 else x
        t, y = _trace(x, rates[m])
        ax.plot(t, y, lw=0.4, color="k")
        ax.set_ylabel(m, fontsize=8)
        _shade(ax, segments, events)
    ax = axes[-1]
    centre = (table.t_start + table.t_end) / 2
    for c, name in enumerate(table.classes):
        ax.plot(centre, table.proba[:, c], color=f"C{c}", lw=1.2, label=f"p({name})")
    _shade(ax, segments, events)
    for start, end, c in segments or ():
        ax.text((start + end) / 2, 1.04, table.classes[c], ha="center", fontsize=6, color=f"C{c}")
    for k, t in enumerate(events, start=1):
        axes[0].annotate(
            f"tag {k}", (t, 1.0), xycoords=("data", "axes fraction"), fontsize=6, ha="center"
        )
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("probability")
    xlabel = "time (s; probability at window centre)"
    if table.start_unix is not None:
        duration = max(float(table.t_end.max(initial=0.0)), 1.0)
        xlabel = _clock_axis(ax, table.start_unix, table.timezone, duration)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8, ncol=len(table.classes), loc="upper right")
    marks = ["shaded: true labelled segments"] if segments else []
    marks += ["dashed: tags"] if len(events) else []
    if marks:
        ax.text(0.0, 1.1, "; ".join(marks), transform=ax.transAxes, fontsize=7)
    axes[0].set_title(title or "signals and class probabilities", pad=12 if len(events) else 6)
    fig.tight_layout()
    save_figure(fig, Path(path), dpi=90)


def plot_attention_over_time(
    t_start: np.ndarray,
    window: float,
    courses: dict,
    table: PredictionTable,
    path: Path,
    title: str = "",
) -> None:
    """One heatmap per connection: rows = position in the window, columns = windows over time;
    colour = attention weight averaged over channels. A strip on top shows the predicted class."""
    keys = list(courses)
    fig, axes = plt.subplots(
        len(keys) + 1,
        1,
        figsize=(12, 1.3 * len(keys) + 1.5),
        sharex=True,
        gridspec_kw={"height_ratios": [0.4] + [1] * len(keys)},
    )
    pred = table.proba.argmax(axis=1)
    extent = (float(t_start[0]), float(t_start[-1] + window), 0, 1) if len(t_start) else None
    axes[0].imshow(
        pred[None, :],
        aspect="auto",
        cmap="tab10",
        vmin=0,
        vmax=9,
        extent=extent,
        interpolation="nearest",
    )
    axes[0].set_yticks([])
    axes[0].set_title(title or "attention per connection over the recording", fontsize=10)
    axes[0].set_ylabel("pred.", fontsize=8)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=plt.cm.tab10(c)) for c in range(len(table.classes))
    ]
    axes[0].legend(
        handles,
        table.classes,
        fontsize=7,
        ncol=len(table.classes),
        loc="lower right",
        bbox_to_anchor=(1, 1.0),
    )
    for ax, key in zip(axes[1:], keys):
        course = courses[key]  # (n_windows, L)
        im = ax.imshow(
            course.T,
            aspect="auto",
            origin="lower",
            cmap="viridis",
            extent=extent,
            interpolation="nearest",
        )
        ax.set_ylabel(key.replace("->", "->\n"), fontsize=7)
        ax.set_yticks([0, 1], ["start", "end"], fontsize=6)
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    save_figure(fig, Path(path), dpi=90)


def plot_attention_by_class(summary: dict, classes, path: Path, title: str = "") -> None:
    """Mean attention over the window per predicted class (the training run's attention plot)."""
    plot_attention(
        summary,
        list(classes),
        Path(path),
        title or "attention per predicted class (mean over windows and channels)",
    )
