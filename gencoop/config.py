"""The run configuration: what `gencoop train` reads from a TOML file or a recipe, validated against the registry.

The validation machinery itself (``ConfigError``, ``validate``, signature-derived configs) is
:mod:`gencoop.settings`; its names are re-exported here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gencoop.registry import UnknownComponentError, get
from gencoop.settings import (  # noqa: F401  (re-exported: the names users import from here)
    ConfigError,
    _jsonable,
    _Strict,
    config_from_signature,
    describe_fields,
    validate,
)

# -- run configurations: what `gencoop train` reads from a TOML file or a recipe ------------------------------------

class PartRef(BaseModel):
    """A part named in a configuration: ``{name = "realnvp", num_layers = 5}`` — its registry name plus settings."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class OptimSettings(_Strict):
    """Adam for one parameter group, with linear warm-up and gradient-norm clipping."""

    lr: float = Field(1e-3, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0)
    warmup: int = Field(0, ge=0, description="steps of linear learning-rate warm-up")
    grad_clip: float | None = Field(None, gt=0, description="clip the group's gradient norm to this")
    skip_grad_norm: float | None = Field(None, gt=0, description="skip the update when the gradient norm exceeds this")


class OptimOverride(_Strict):
    """Per-group changes to ``train.optim``: only the fields given (not None) replace the defaults."""

    lr: float | None = Field(None, gt=0)
    betas: tuple[float, float] | None = None
    weight_decay: float | None = Field(None, ge=0)
    warmup: int | None = Field(None, ge=0)
    grad_clip: float | None = Field(None, gt=0)
    skip_grad_norm: float | None = Field(None, gt=0)


class EarlyStopping(_Strict):
    metric: str
    mode: Literal["min", "max"] = "min"
    patience: int = Field(3, ge=1, description="evaluations without improvement before stopping")


class TrainSettings(_Strict):
    steps: int = Field(2000, ge=0)
    batch_size: int = Field(256, ge=1, description="per process")
    optim: OptimSettings = OptimSettings()
    groups: dict[str, OptimOverride] = Field(default_factory=dict, description="per-group overrides of optim")
    log_every: int = Field(25, ge=1)
    eval_every: int = Field(0, ge=0, description="0: only at the end")
    sample_every: int = Field(0, ge=0, description="0: only at the end")
    checkpoint_every: int = Field(250, ge=1)
    ema: float | None = Field(None, gt=0, lt=1, description="decay of an exponential moving average of weights")
    early_stopping: EarlyStopping | None = None
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: cores / processes)")
    tensorboard: bool = Field(False, description="also log scalars to RUN/tensorboard (needs the tensorboard package)")
    device: str = "auto"

    def optim_for(self, group: str) -> OptimSettings:
        # None is "as train.optim": a saved config.json writes unset fields as null, and they must stay unset
        override = self.groups[group].model_dump(exclude_none=True) if group in self.groups else {}
        return OptimSettings(**{**self.optim.model_dump(), **override})


class EvalSettings(_Strict):
    samples: int = Field(2000, ge=2)
    batch_size: int = Field(500, ge=1)
    inception: str | None = Field(None, description="path of a TorchScript Inception you have: adds `fid`")
    quadrature_cells: int = Field(600, ge=2, description="2-D energies: grid cells per axis for the NLL's log Z")
    ais_steps: int = Field(0, ge=0, description="beyond 2-D: AIS temperatures for an EBM's log Z (0: no EBM NLL)")
    ais_chains: int = Field(64, ge=2, description="AIS chains for an EBM's log Z")


class RunConfig(_Strict):
    """A whole run: data set and model by registry name, training and evaluation settings, seed."""

    recipe: str | None = None
    seed: int = 0
    data: PartRef
    model: PartRef
    train: TrainSettings = TrainSettings()
    eval: EvalSettings = EvalSettings()


def apply_overrides(source: dict[str, Any], pairs: list[str]) -> dict[str, Any]:
    """Apply ``--set KEY=VALUE`` pairs (``train.steps=500``, ``model.flow={"name": "nsf"}``) to a copy of ``source``.

    Values parse as JSON when they can, else they are strings; a value replaces what was at its key (a dict value
    replaces the whole section). When ``data.name`` or ``model.name`` changes, the old part's settings that the
    new part does not take are dropped, so ``--set data.name=digits`` works on a toy recipe.
    """
    out = json.loads(json.dumps(source))  # a deep copy
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError("--set", [(pair, "expected KEY=VALUE, e.g. train.steps=500")])
        key, raw = pair.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *path, leaf = key.strip().split(".")
        node = out
        for p in path:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[leaf] = value
    for section, kind in (("data", "dataset"), ("model", "model")):
        old, new = source.get(section) or {}, out.get(section)
        if isinstance(new, dict) and old.get("name") not in (None, new.get("name")):
            _drop_foreign_settings(new, kind, keep=[k for k in new if new.get(k) != old.get(k)])
    return out


def _drop_foreign_settings(ref: dict[str, Any], kind: str, keep: list[str]) -> None:

    try:
        fields = get(kind, ref["name"]).config.model_fields
    except (UnknownComponentError, KeyError):
        return  # reported by validation
    for k in [k for k in ref if k != "name" and k not in fields and k not in keep]:
        del ref[k]


def load_run_config(source: dict[str, Any], overrides: list[str] = (), where: str = "run config") -> RunConfig:
    """Validate a run configuration (a dict from TOML or a recipe) with ``--set`` overrides applied."""
    merged = _data_from_base(apply_overrides(source, list(overrides)))
    problems: list[tuple[str, str]] = []
    try:
        config: RunConfig = validate(RunConfig, merged, where)  # type: ignore[assignment]
    except ConfigError as exc:
        problems += exc.problems
        config = None  # type: ignore[assignment]
    problems += _part_problems(merged)
    if problems:
        raise ConfigError(where, list(dict.fromkeys(problems)))
    return config


def _data_from_base(raw: dict[str, Any]) -> dict[str, Any]:
    """A model naming a ``base`` run folder (exponential tilting) gets it as an absolute path (the run loads from
    anywhere later), and a config without ``data`` takes the base run's data set, so the tilted model learns the
    data its base learned (the clean images, when the base learned from occluded ones)."""
    model = raw.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("base"), str):
        return raw
    base = Path(model["base"]).expanduser()
    base_config = base / "config.json"
    if not base_config.exists():
        raise ConfigError("run config", [("model.base", f"{model['base']} is not a finished run folder (no "
                                          "config.json); train the base first, e.g. `gencoop train vae-25gaussians "
                                          f"--out {model['base']}`, or --set model.base=YOUR_RUN")])
    raw = {**raw, "model": {**model, "base": str(base.resolve())}}
    if raw.get("data") is None:
        data = json.loads(base_config.read_text())["data"]
        if data.get("name") == "occluded":  # tilting needs complete images: the occluded set's clean source
            data = data.get("data", {"name": "mnist5k"})
        raw["data"] = data
    return raw


def _part_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems with the data set's and the model's own settings (checked against their registered configs)."""

    problems = []
    for section, kind in (("data", "dataset"), ("model", "model")):
        ref = raw.get(section)
        if not isinstance(ref, dict) or "name" not in ref:
            continue
        try:
            spec = get(kind, ref["name"])
        except UnknownComponentError as exc:
            problems.append((f"{section}.name", str(exc)))
            continue
        params = {k: v for k, v in ref.items() if k != "name"}
        try:
            validate(spec.config, params, f"{section} {ref['name']!r}")
        except ConfigError as exc:
            problems += [(f"{section}.{field}", message) for field, message in exc.problems
                         if not message.startswith("required parameter")]
    return problems
