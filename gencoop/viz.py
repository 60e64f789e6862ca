"""Pictures: 2-D scatter panels with an optional density heat map (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402


def plot_2d(
    panels: dict[str, Tensor],
    path: str | Path,
    *,
    densities: dict[str, Callable[[Tensor], Tensor]] | None = None,
    lim: float = 3.0,
    resolution: int = 200,
    log_density: Callable[[Tensor], Tensor] | None = None,
) -> Path:
    """One scatter panel per entry of ``panels`` (each ``(n, 2)``), then one heat map per entry of ``densities``
    (log-densities ``(B, 2) -> (B,)``, normalised or not: each is normalised on the panel's grid), titled by key.
    ``log_density`` (deprecated) is ``densities={"model density": log_density}``."""
    densities = dict(densities or {})
    if log_density is not None:
        import warnings

        warnings.warn("plot_2d(log_density=f) is deprecated; pass densities={'title': f}", DeprecationWarning,
                      stacklevel=2)
        densities["model density"] = log_density
    n = len(panels) + len(densities)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    for ax, (title, pts) in zip(axes[0], panels.items()):
        pts = pts.detach().cpu().numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.5, linewidths=0)
        ax.set_title(title, fontsize=10)
    r = torch.linspace(-lim, lim, resolution)
    grid = torch.cartesian_prod(r, r)
    for ax, (title, log_density) in zip(axes[0][len(panels):], densities.items()):
        with torch.no_grad():
            lp = log_density(grid).double()
            dens = torch.softmax(lp, 0).reshape(resolution, resolution).T.cpu()  # normalised on the grid
        # the colour scale stops at the 99.9th percentile: one cell of a noisy (importance-sampled) density
        # would otherwise darken the rest
        top = float(dens.flatten().quantile(0.999)) or None
        ax.imshow(dens.numpy(), origin="lower", extent=(-lim, lim, -lim, lim), cmap="viridis", vmin=0, vmax=top)
        ax.set_title(title, fontsize=9)
    return _save_square_panels(fig, axes[0], lim, path)


def _save_square_panels(fig, axes, lim: float, path: str | Path) -> Path:
    """Square, tick-free panels on [−lim, lim]²; write the figure as a PNG and close it."""
    for ax in axes:
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


def save_image_grid(images: Tensor, path: str | Path, nrow: int | None = None, pad: int = 1,
                    row_labels: Sequence[str] | None = None) -> Path:
    """Tile images ``(N, C, H, W)`` in data units [0, 1] into one PNG (C = 1 grey, C = 3 RGB), ``nrow`` to a row;
    ``row_labels`` (one per row) are written in a margin on the left."""
    import math

    from PIL import Image, ImageDraw, ImageFont

    x = images.detach().float().clamp(0, 1).cpu()
    n, c, h, w = x.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    ncol = int(math.ceil(n / nrow))
    if row_labels is not None and len(row_labels) != ncol:
        raise ValueError(f"row_labels: one label per row of the grid ({ncol} rows), got {len(row_labels)}")
    grid = torch.ones(c, ncol * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, q = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = x[i]
    arr = (grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    img = Image.fromarray(arr[..., 0] if c == 1 else arr, mode="L" if c == 1 else "RGB")
    scale = max(1, 256 // max(img.size), 32 // max(h, w))  # small grids, and tiles under 32 px, are enlarged
    if scale > 1:
        img = img.resize((img.size[0] * scale, img.size[1] * scale), Image.NEAREST)
    if row_labels is not None:
        font = ImageFont.load_default()
        draw = ImageDraw.Draw(img)
        boxes = [draw.textbbox((0, 0), label, font=font) for label in row_labels]  # bitmap or FreeType font alike
        width = max(box[2] for box in boxes) + 12
        labelled = Image.new(img.mode, (img.size[0] + width, img.size[1]), 255 if c == 1 else (255, 255, 255))
        labelled.paste(img, (width, 0))
        draw = ImageDraw.Draw(labelled)
        for r, (label, box) in enumerate(zip(row_labels, boxes)):  # right-aligned, centred on the row
            centre = (pad + r * (h + pad) + h / 2) * scale
            draw.text((width - 6 - box[2], centre - (box[1] + box[3]) / 2), label, fill=0 if c == 1 else (0, 0, 0),
                      font=font)
        img = labelled
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def plot_trajectories(trajectory: Tensor, path: str | Path, *, background: Tensor | None = None,
                      lim: float = 3.0) -> Path:
    """Chains ``(T, n, 2)`` as paths over the data ``background`` ``(m, 2)``: each chain a line from its start
    (hollow circle) to its end (dot), coloured by chain."""
    traj = trajectory.detach().cpu().numpy()
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    if background is not None:
        pts = background.detach().cpu().numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=1, c="0.8", linewidths=0)
    colours = plt.cm.tab10.colors
    for i in range(traj.shape[1]):
        c = colours[i % len(colours)]
        ax.plot(traj[:, i, 0], traj[:, i, 1], "-", color=c, lw=0.8, alpha=0.8)
        ax.scatter(traj[0, i, 0], traj[0, i, 1], s=18, facecolors="none", edgecolors=[c], linewidths=0.8)
        ax.scatter(traj[-1, i, 0], traj[-1, i, 1], s=10, color=c)
    ax.set_title(f"{traj.shape[1]} chains, {traj.shape[0]} states each", fontsize=10)
    return _save_square_panels(fig, [ax], lim, path)
