"""Importers are found through the ``tokenomy.importers`` entry-point group.

The built-in ones are registered in our own ``pyproject.toml`` exactly as a third-party
package would register its own, so there is one way in.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from tokenomy.capture.base import Importer

GROUP = "tokenomy.importers"


class UnknownImporterError(KeyError):
    def __str__(self) -> str:
        return f"no importer named {self.args[0]!r}; known: {', '.join(importer_names())}"


@cache
def _available() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def importer_names() -> list[str]:
    return sorted(_available())


@cache
def get_importer(name: str) -> Importer:
    for ep in entry_points(group=GROUP, name=name):
        factory = ep.load()
        importer: Importer = factory()
        return importer
    raise UnknownImporterError(name)
