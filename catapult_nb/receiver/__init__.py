"""The callback receiver inside the kernel: its HTTP handling, what a callback must be to be stored, the
one thread that writes deliveries to the store, and the faults a test can inject.

Modules, top down: ``receiver`` (:class:`CallbackReceiver`), ``writer`` (the writer thread),
``checks`` (request checks), ``faults`` (injected failures), ``exchanges`` (each request and its answer,
for the inspector).
"""

from catapult_nb.receiver.faults import Faults
from catapult_nb.receiver.receiver import (
    BODY_TIMEOUT,
    IDLE_TIMEOUT,
    KEEP_UNKNOWN,
    MAX_BODY,
    MAX_DEPTH,
    CallbackReceiver,
)

__all__ = [
    "BODY_TIMEOUT", "IDLE_TIMEOUT", "KEEP_UNKNOWN", "MAX_BODY", "MAX_DEPTH", "CallbackReceiver", "Faults",
]
