"""Compositions: each takes parts in its constructor and adds no numerical machinery of its own."""

from gencoop.models.base import Model, build_part
from gencoop.models.baselines import GLF, VAE, FlowModel
from gencoop.models.coopflow import CoopFlow, NoiseInitializer
from gencoop.models.latent_variable import LatentVariableModel
from gencoop.models.tilting import ExponentialTilting

__all__ = ["Model", "build_part", "CoopFlow", "FlowModel", "VAE", "GLF", "NoiseInitializer", "LatentVariableModel",
           "ExponentialTilting"]
