"""gencoop: energy-based and flow-based generative models from interchangeable, registered parts."""

from gencoop.hookspecs import hookimpl
from gencoop.interfaces import Decoder, Encoder, Energy, Flow, Generator, Prior, Sampler
from gencoop.registry import ComponentSpec, RegistrationError, components, create, get, plugin_errors
from gencoop.settings import ConfigError

__all__ = [
    "ComponentSpec",
    "ConfigError",
    "Decoder",
    "Encoder",
    "Energy",
    "Flow",
    "Generator",
    "Prior",
    "RegistrationError",
    "Sampler",
    "components",
    "create",
    "get",
    "hookimpl",
    "plugin_errors",
]
