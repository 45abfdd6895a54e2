"""One object that opens a working setup (client, receiver, tunnel, simulator) and what hangs off it.

Modules, top down: ``session`` (:class:`Session`), ``calls`` (:class:`Call`, :class:`Gather`, the
virtual :class:`Phone`), ``handlers`` (callbacks dispatched to your functions), ``recording`` (record a
session and play it again), ``replay`` (send stored events to an app again).
"""

from catapult_nb.session.calls import SIMULATED_FROM, Call, Gather, GatherResult, Phone, SessionError
from catapult_nb.session.session import Session

__all__ = ["SIMULATED_FROM", "Call", "Gather", "GatherResult", "Phone", "Session", "SessionError"]
