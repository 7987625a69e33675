"""The organism's loss curve: one PNG from a build record (recipe.json)."""

from __future__ import annotations

from pathlib import Path

from steerbench.cache import atomic_write


def plot_losses(record: dict, path: Path) -> Path:
    """Training loss per step with a 10-step running mean; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = record["losses"]
    window = 10
    smooth = [sum(losses[max(0, i - window + 1):i + 1]) / len(losses[max(0, i - window + 1):i + 1])
              for i in range(len(losses))]
    steps = range(1, len(losses) + 1)
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(steps, losses, color="0.7", linewidth=1, label="loss per step (batch of 8)")
    axis.plot(steps, smooth, color="C0", linewidth=2, label=f"{window}-step running mean")
    train = record["recipe"]["train"]
    axis.set_title(f"{record['recipe']['name']}: LoRA r{train['rank']}, lr {train['lr']:g}, "
                   f"{train['steps']} steps", fontsize=10)
    axis.set_xlabel("training step")
    axis.set_ylabel("training loss (nats)" if train.get("contrast_refusals") else "answer-token cross-entropy (nats)")
    if train.get("contrast_refusals"):
        axis.set_xlabel("training step  (loss = weighted answer cross-entropy + "
                        f"{train['contrast_weight']:g} x unlikelihood of wrong openings)", fontsize=8)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    atomic_write(Path(path), lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
    plt.close(figure)
    return Path(path)
