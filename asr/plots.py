"""Pictures: training curves from ``metrics.jsonl`` and a model's character posteriors.

matplotlib is an optional extra (``pip install 'asr[plots]'``) and runs headless (Agg).
``training_plots`` redraws ``exp/plots/*.png`` at each validation; ``plot_runs`` overlays
several runs in one figure (``asr plot``); ``posterior_png`` draws one utterance's
frame-by-frame character posteriors under its log-mel spectrogram, with word times marked.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from asr.runtime import MissingDependency

if TYPE_CHECKING:
    from asr.timing import Word

MISSING = "matplotlib is not installed: pip install 'asr[plots]'"


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend; MissingDependency naming the extra without it."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependency(MISSING) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def read_metrics(exp_dir: Path) -> list[dict[str, Any]]:
    """The events of ``exp_dir/metrics.jsonl``; after a resume the later row of a repeated
    (event, step) wins, so a restarted stretch is not drawn twice."""
    path = Path(exp_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (is {exp_dir} a training exp dir?)")
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a killed run
            continue
        if isinstance(row, dict) and "event" in row and "step" in row:
            rows[(row["event"], int(row["step"]))] = row
    return sorted(rows.values(), key=lambda r: r["step"])


@dataclass(frozen=True)
class Panel:
    name: str  # file name in exp/plots/ and the subplot title
    title: str
    series: tuple[tuple[str, str, str], ...]  # (event, key, label)
    log_y: bool = False


PANELS = (
    Panel("loss", "CTC loss", (("train", "loss", "train"), ("valid", "loss", "valid"))),
    Panel("valid", "validation error rate (%)", (("valid", "wer", "WER"), ("valid", "cer", "CER"))),
    Panel("lr", "learning rate", (("train", "lr", "lr"),), log_y=True),
    Panel("grad_norm", "gradient norm (before clipping)", (("train", "grad_norm", "grad norm"),), log_y=True),
    Panel(
        "steps",
        "clipped / skipped steps",
        (("train", "clipped", "clipped"), ("train", "skipped_steps", "skipped")),
    ),
)


def _series(rows: list[dict[str, Any]], event: str, key: str) -> tuple[list[int], list[float]]:
    points = [
        (r["step"], float(r[key]))
        for r in rows
        if r["event"] == event and isinstance(r.get(key), (int, float))
    ]
    scale = 100.0 if key in ("wer", "cer") else 1.0
    return [s for s, _ in points], [v * scale for _, v in points]


def _draw(ax: Any, panel: Panel, runs: Sequence[tuple[str, list[dict[str, Any]]]]) -> None:
    styles = ("-", "--", ":", "-.")
    for run_index, (run_name, rows) in enumerate(runs):
        for series_index, (event, key, label) in enumerate(panel.series):
            steps, values = _series(rows, event, key)
            if not steps:
                continue
            name = label if len(runs) == 1 else f"{run_name}: {label}"
            ax.plot(
                steps,
                values,
                styles[series_index % len(styles)],
                color=f"C{run_index}",
                marker="o" if event == "valid" else None,
                markersize=3,
                label=name,
            )
    if panel.log_y and ax.lines and all(min(line.get_ydata()) > 0 for line in ax.lines):
        ax.set_yscale("log")
    ax.set_title(panel.title, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)


def _panels_figure(runs: Sequence[tuple[str, list[dict[str, Any]]]]) -> Any:
    """Every panel side by side, each run (name, metrics rows) in its own colour."""
    fig, axes = pyplot().subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.2), dpi=80)
    for ax, panel in zip(axes, PANELS):
        _draw(ax, panel, runs)
    fig.tight_layout()
    return fig


def runs_figure(exp_dirs: Sequence[Path], names: Sequence[str] | None = None) -> Any:
    """One figure with every panel, each run in its own colour (named by its folder)."""
    names = names or [Path(d).name for d in exp_dirs]
    return _panels_figure([(name, read_metrics(d)) for name, d in zip(names, exp_dirs)])


def plot_runs(exp_dirs: Sequence[Path], out: Path, names: Sequence[str] | None = None) -> Path:
    """``runs_figure`` saved as ``out`` (a PNG)."""
    fig = runs_figure(exp_dirs, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_png(fig, pyplot()))
    return out


def training_plots(exp_dir: Path) -> list[Path]:
    """``exp_dir/plots/{loss,valid,lr,grad_norm,steps}.png`` and ``overview.png``, from one
    read of ``metrics.jsonl``."""
    plt = pyplot()
    run = [(Path(exp_dir).name, read_metrics(exp_dir))]
    out_dir = Path(exp_dir) / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for panel in PANELS:
        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=80)
        _draw(ax, panel, run)
        fig.tight_layout()
        (out_dir / f"{panel.name}.png").write_bytes(_png(fig, plt))
        written.append(out_dir / f"{panel.name}.png")
    (out_dir / "overview.png").write_bytes(_png(_panels_figure(run), plt))
    return [*written, out_dir / "overview.png"]


def _token_label(token: str, index: int) -> str:
    return "∅" if index == 0 else ("␣" if token == " " else token)


def posterior_png(
    log_mel: np.ndarray,
    log_probs: np.ndarray,
    tokens: Sequence[str],
    words: Sequence[Word],
    feature_seconds: float,
    output_seconds: float,
    title: str = "",
) -> bytes:
    """PNG bytes: the log-mel spectrogram ``[n_mels, T]`` above the posteriors ``[T', V]`` of
    the characters that ever reach 5% (blank shown as ∅, space as ␣), on one time axis, with
    each aligned word's span marked and labelled."""
    plt = pyplot()
    probs = np.exp(log_probs.astype(np.float64))
    shown = [i for i in range(probs.shape[1]) if probs[:, i].max() >= 0.05] or [0]
    seconds = log_mel.shape[1] * feature_seconds
    width = min(24.0, max(8.0, 0.9 * seconds))  # long utterances get room for their words
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(width, 4.6), dpi=72, sharex=True, gridspec_kw={"height_ratios": [1, 1.3]}
    )
    top.imshow(log_mel, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, log_mel.shape[0]))
    top.set_ylabel("mel bin", fontsize=8)
    if title:
        top.set_title(title, fontsize=9)
    bottom.imshow(
        probs[:, shown].T,
        origin="lower",
        aspect="auto",
        cmap="Greys",
        vmin=0,
        vmax=1,
        extent=(0, probs.shape[0] * output_seconds, -0.5, len(shown) - 0.5),
        interpolation="nearest",
    )
    bottom.set_yticks(range(len(shown)))
    bottom.set_yticklabels([_token_label(tokens[i], i) for i in shown], fontsize=7)
    bottom.set_xlabel("seconds", fontsize=8)
    for i, word in enumerate(words):
        for ax in (top, bottom):
            ax.axvspan(word.start, word.end, color=f"C{i % 10}", alpha=0.15, lw=0)
        top.text(
            (word.start + word.end) / 2,
            log_mel.shape[0] * (0.95 - 0.12 * (i % 3)),
            word.word,
            ha="center",
            va="top",
            fontsize=8,
            color="white",
        )
    for ax in (top, bottom):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig, plt)


def _png(fig: Any, plt: Any) -> bytes:
    """The figure as a 256-colour PNG: a third of the size of full colour, the same to the eye."""
    from PIL import Image  # a dependency of matplotlib

    fig.canvas.draw()
    image = Image.frombuffer("RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba()).convert("RGB")
    plt.close(fig)
    buffer = io.BytesIO()
    image.quantize(256).save(buffer, format="png", optimize=True)
    return buffer.getvalue()
