"""Importers are found through the ``tokenomy.importers`` entry-point group.

The built-in ones are registered in our own ``pyproject.toml`` exactly as a third-party
package would register its own, so there is one way in.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from tokenomy.capture.base import Importer

GROUP = "tokenomy.importers"


class UnknownImporterError(KeyError):
    def __str__(self) -> str:
        return f"no importer named {self.args[0]!r}; known: {', '.join(importer_names())}"


@cache
def _available() -> dict[str, EntryPoint]:
    # Read once: each call of entry_points() reads every installed package's metadata
    # (5 ms here), and `report` asks for three importers.
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def importer_names() -> list[str]:
    return sorted(_available())


@cache
def get_importer(name: str) -> Importer:
    ep = _available().get(name)
    if ep is None:
        raise UnknownImporterError(name)
    factory = ep.load()
    importer: Importer = factory()
    return importer
