"""Pictures: 2-D scatter panels with an optional density heat map (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402


def plot_2d(
    panels: dict[str, Tensor],
    path: str | Path,
    *,
    log_density: Callable[[Tensor], Tensor] | None = None,
    lim: float = 3.0,
    resolution: int = 200,
) -> Path:
    """One scatter panel per entry of ``panels`` (each ``(n, 2)``), plus exp(log_density) on a grid if given."""
    n = len(panels) + (log_density is not None)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    for ax, (title, pts) in zip(axes[0], panels.items()):
        pts = pts.detach().cpu().numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.5, linewidths=0)
        ax.set_title(title, fontsize=10)
    if log_density is not None:
        r = torch.linspace(-lim, lim, resolution)
        grid = torch.cartesian_prod(r, r)
        with torch.no_grad():
            dens = torch.exp(log_density(grid)).reshape(resolution, resolution).T.cpu().numpy()
        ax = axes[0][-1]
        ax.imshow(dens, origin="lower", extent=(-lim, lim, -lim, lim), cmap="viridis")
        ax.set_title("model density", fontsize=10)
    for ax in axes[0]:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
