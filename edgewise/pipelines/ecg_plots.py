"""Plots for the ECG report: a strip coloured by P/QRS/T (prediction above, reference below)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

COLOURS = {"P": "#2b8cbe", "QRS": "#e34a33", "T": "#31a354"}


def plot_strip(signal: np.ndarray, fs: float, waves, path: Path, *, reference=None, title: str = "",
               seconds: float | None = 10.0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n = len(signal) if seconds is None else min(len(signal), int(seconds * fs))
    t = np.arange(n) / fs
    rows = 2 if reference is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(14, 2.6 * rows), sharex=True, squeeze=False)
    for ax, ws, label in zip(axes[:, 0], [waves, reference], ["edgewise", "reference annotation"]):
        ax.plot(t, signal[:n], color="k", lw=0.8)
        for w in ws or []:
            if w.onset < n:
                ax.axvspan(w.onset / fs, min(w.offset, n - 1) / fs, color=COLOURS[w.kind], alpha=0.3, lw=0)
        ax.set_ylabel(f"{label}\nmV")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].legend(handles=[Patch(color=c, alpha=0.4, label=k) for k, c in COLOURS.items()], loc="upper right",
                      ncol=3, fontsize=8)
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
