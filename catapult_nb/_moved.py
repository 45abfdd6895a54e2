"""Modules that moved: their old import paths keep working for a while, with a warning naming the new one.

``import catapult_nb.events`` gives the module now at ``catapult_nb.store.store`` (the same module
object, not a copy) and a :class:`DeprecationWarning` that says where it lives now. The table is the
whole mechanism: one line per moved module, kept in step with ``docs/layout.md``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import FrameType, ModuleType

#: old module path → the module it became
MOVED = {
    "catapult_nb.events": "catapult_nb.store.store",
    "catapult_nb.event_frames": "catapult_nb.store.frames",
    "catapult_nb.event_cache": "catapult_nb.store.columnar",
    "catapult_nb.importers": "catapult_nb.store.importers",
    "catapult_nb.exporters": "catapult_nb.store.exporters",
    "catapult_nb.store_writer": "catapult_nb.receiver.writer",
    "catapult_nb.callback_checks": "catapult_nb.receiver.checks",
    "catapult_nb.faults": "catapult_nb.receiver.faults",
    "catapult_nb.calls": "catapult_nb.session.calls",
    "catapult_nb.handlers": "catapult_nb.session.handlers",
    "catapult_nb.replay": "catapult_nb.session.replay",
    "catapult_nb.recording": "catapult_nb.session.recording",
    "catapult_nb.flows.campaign": "catapult_nb.campaign.flow_run",
    "catapult_nb.flows.wire": "catapult_nb.campaign.flow_wire",
    "catapult_nb.flows.vectorised": "catapult_nb.campaign.flow_vectorised",
    "catapult_nb.flows.draws": "catapult_nb.campaign.flow_draws",
}


class _MovedLoader(importlib.abc.Loader):
    """Loads an old path as the module at its new path, keeping that module's own spec."""

    def __init__(self, new: str) -> None:
        self.new = new
        self.own: tuple[object, object] = (None, None)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.new)
        self.own = (module.__spec__, module.__loader__)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # the import machinery has just stamped the old name's spec on the module: give it its own back
        module.__spec__, module.__loader__ = self.own  # type: ignore[assignment]


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old path of a moved module, warns, and hands over the module at its new path."""

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        warnings.warn(
            f"{fullname} has moved to {new}; import it from there (the old path will be removed)",
            DeprecationWarning,
            stacklevel=_importer_level(),
        )
        return importlib.machinery.ModuleSpec(fullname, _MovedLoader(new))


def _importer_level() -> int:
    """The ``stacklevel`` that points a warning at the import statement (or ``import_module`` call).

    :mod:`warnings` skips the import system's frozen frames by itself; ``importlib.import_module`` is an
    ordinary frame and is counted here.
    """
    level = 2
    frame: FrameType | None = sys._getframe(2)  # 1 is find_spec, the caller of this function
    while frame is not None:
        name = frame.f_code.co_filename
        if "importlib" in name and "_bootstrap" in name:
            pass  # skipped by warnings, not counted
        elif name == importlib.__file__:
            level += 1
        else:
            break
        frame = frame.f_back
    return level


def install() -> None:
    """Put the finder on :data:`sys.meta_path` once."""
    if not any(isinstance(finder, MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())  # before any finder that knows an older copy of the package
