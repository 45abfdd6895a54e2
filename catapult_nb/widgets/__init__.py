"""ipywidgets for the gather workflow: a skin over the library (everything here is one line of Python too)."""

from catapult_nb.widgets.actions import CallActions
from catapult_nb.widgets.credentials import CredentialsForm
from catapult_nb.widgets.explorer import Explorer
from catapult_nb.widgets.flow_player import FlowPlayer
from catapult_nb.widgets.form import GatherForm
from catapult_nb.widgets.history import CallHistory, call_history
from catapult_nb.widgets.inspector import CallbackInspector
from catapult_nb.widgets.live import EventTable, GatherCountdown, Keypad, SessionPanel
from catapult_nb.widgets.speaker import Speaker

__all__ = [
    "CallActions", "CallHistory", "CallbackInspector", "CredentialsForm", "EventTable", "Explorer",
    "FlowPlayer", "GatherCountdown", "GatherForm", "Keypad", "SessionPanel", "Speaker", "call_history",
]
