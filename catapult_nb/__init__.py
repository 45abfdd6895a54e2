"""catapult_nb — learn and prototype the Bandwidth Catapult v1 Gather API in a Jupyter notebook.

``from catapult_nb import Session`` is the usual start; the heavier pieces (pandas, aiohttp, widgets)
load on first use, so ``from catapult_nb import GatherOptions`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from catapult_nb import _moved
from catapult_nb.errors import Error
from catapult_nb.options import GatherOptions, OptionError, Prompt

if TYPE_CHECKING:
    from catapult_nb.client import CatapultClient, CatapultError
    from catapult_nb.receiver.receiver import CallbackReceiver
    from catapult_nb.session.session import Call, Gather, GatherResult, Session, SessionError
    from catapult_nb.simulator import Simulator
    from catapult_nb.store.parquet import ParquetEvents
    from catapult_nb.store.store import EventStore
    from catapult_nb.tunnel import LoopbackTunnel, Tunnel, TunnelError, open_tunnel

__version__ = "0.1.0"

_moved.install()

_LAZY = {
    "CatapultClient": "catapult_nb.client",
    "CatapultError": "catapult_nb.client",
    "EventStore": "catapult_nb.store.store",
    "ParquetEvents": "catapult_nb.store.parquet",
    "CallbackReceiver": "catapult_nb.receiver.receiver",
    "Session": "catapult_nb.session.session",
    "SessionError": "catapult_nb.session.session",
    "Call": "catapult_nb.session.session",
    "Gather": "catapult_nb.session.session",
    "GatherResult": "catapult_nb.session.session",
    "Simulator": "catapult_nb.simulator",
    "Tunnel": "catapult_nb.tunnel",
    "LoopbackTunnel": "catapult_nb.tunnel",
    "TunnelError": "catapult_nb.tunnel",
    "open_tunnel": "catapult_nb.tunnel",
}

__all__ = [
    "Call",
    "CallbackReceiver",
    "CatapultClient",
    "CatapultError",
    "Error",
    "EventStore",
    "Gather",
    "GatherOptions",
    "GatherResult",
    "LoopbackTunnel",
    "OptionError",
    "ParquetEvents",
    "Prompt",
    "Session",
    "SessionError",
    "Simulator",
    "Tunnel",
    "TunnelError",
    "open_tunnel",
]


#: What the lean install leaves out (the ``toolkit`` extra brings it), by import name.
_TOOLKIT_MODULES = {"pandas", "numpy", "ipywidgets", "IPython", "pyngrok", "matplotlib", "dotenv", "tqdm",
                    "ijson", "orjson", "pyarrow", "espeakng_loader", "duckdb"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        try:
            value = getattr(import_module(_LAZY[name]), name)
        except ModuleNotFoundError as exc:  # a lean install: say which extra brings the rest
            missing = (exc.name or "").partition(".")[0]
            if missing not in _TOOLKIT_MODULES:
                raise
            raise ModuleNotFoundError(
                f"catapult_nb.{name} needs {missing}, which the lean install (the simulator, the client and "
                "the pytest plugin) leaves out: pip install 'catapult_nb[toolkit]' for the whole library, or "
                "'catapult_nb[notebooks]' with Jupyter", name=exc.name,
            ) from exc
        globals()[name] = value
        return value
    raise AttributeError(f"module 'catapult_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
