"""PNG plots of a run (matplotlib, Agg backend; written atomically)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from xmodal.files import atomic_write_bytes  # noqa: E402


def save_figure(fig, path: Path, dpi: int = 120) -> None:
    """Render to memory and write atomically; close the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_confusion_matrix(cm, classes, path: Path, title: str = "") -> None:
    """Row-normalised confusion matrix with counts."""
    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.3 * k + 2, 1.2 * k + 1.5))
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}\n({int(cm[i, j])})",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.6 else "black",
                fontsize=9,
            )
    ax.set_xticks(range(k), classes, rotation=30, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "pooled confusion matrix (row-normalised)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    save_figure(fig, path)


def plot_subject_scores(
    per_subject: dict, path: Path, title: str = "", chance: float | None = None
) -> None:
    """Macro-F1 and accuracy per test subject."""
    subjects = list(per_subject)
    f1 = [per_subject[s]["macro_f1"] for s in subjects]
    acc = [per_subject[s]["accuracy"] for s in subjects]
    x = np.arange(len(subjects))
    fig, ax = plt.subplots(figsize=(max(5, 0.55 * len(subjects) + 2), 3.5))
    ax.bar(x - 0.2, f1, 0.4, label="macro-F1")
    ax.bar(x + 0.2, acc, 0.4, label="accuracy", alpha=0.7)
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", lw=1, label="chance (accuracy)")
    ax.axhline(float(np.nanmean(f1)), color="C0", lw=1, label=f"mean macro-F1 {np.nanmean(f1):.3f}")
    ax.set_xticks(x, subjects)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score on the held-out subject")
    ax.set_title(title or "per-subject scores")
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)


def plot_training_curves(records: list[dict], path: Path) -> None:
    """Training loss and validation macro-F1 per epoch, one line per fold."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    for r in records:
        h = r.get("history") or []
        label = ",".join(r["test_subjects"])
        ax1.plot([e["epoch"] for e in h], [e["train_loss"] for e in h], lw=1, label=label)
        if h and "val_macro_f1" in h[0]:
            ax2.plot([e["epoch"] for e in h], [e["val_macro_f1"] for e in h], lw=1)
            ax2.plot(r["best_epoch"], h[r["best_epoch"] - 1]["val_macro_f1"], "k.", ms=5)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation macro-F1 (inner subjects)")
    ax2.set_ylim(0, 1.05)
    if len(records) <= 15:
        ax1.legend(fontsize=6, ncol=2, title="test subject", title_fontsize=7)
    fig.suptitle("training curves (dot: selected epoch)")
    save_figure(fig, path)


def plot_attention(attention: dict, classes, path: Path, title: str = "") -> None:
    """Attention weight (mean over channels) over the window, per class, one panel per connection."""
    keys = list(attention)
    if not keys:
        return
    cols = min(3, len(keys))
    rows = int(np.ceil(len(keys) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for c, course in enumerate(attention[key]):
            if course is not None:
                ax.plot(np.linspace(0, 1, len(course)), course, label=classes[c])
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("position in window (fraction)")
        ax.set_ylabel("attention")
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title or "attention weights per class (test windows)")
    fig.tight_layout()
    save_figure(fig, path)


def write_run_plots(out: Path, results: dict, records: list[dict]) -> list[Path]:
    """The standard plots of a run folder; returns the files written."""
    out = Path(out)
    classes = results["classes"]
    name = f"{results['model']} | {results['task']} | {results['protocol']}"
    written = [out / "confusion_matrix.png", out / "per_subject.png", out / "training_curves.png"]
    plot_confusion_matrix(
        results["pooled"]["confusion_matrix"],
        classes,
        written[0],
        f"{name}: pooled confusion matrix",
    )
    plot_subject_scores(
        results["per_subject"], written[1], f"{name}: held-out subjects", chance=1.0 / len(classes)
    )
    plot_training_curves(records, written[2])
    attention = next((r["attention"] for r in records if r.get("attention")), None)
    if attention:
        written.append(out / "attention.png")
        subject = ",".join(next(r for r in records if r.get("attention"))["test_subjects"])
        plot_attention(
            attention, classes, written[-1], f"{name}: attention per class, test subject {subject}"
        )
    return written
