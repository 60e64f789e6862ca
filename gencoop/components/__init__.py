"""Built-in parts: energies, flows (on nflows), decoders and encoders, priors.

``gencoop.components`` is also callable: ``gencoop.components(kind=None)`` lists the registered parts (the
registry's :func:`gencoop.registry.components`). The package and the function share the name DESIGN.md gives
both, so the package module forwards calls to the registry.
"""

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, kind: str | None = None):
        from gencoop.registry import components

        return components(kind)


sys.modules[__name__].__class__ = _CallableModule
