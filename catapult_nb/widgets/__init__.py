"""ipywidgets for the gather workflow: a skin over the library (everything here is one line of Python too)."""

from catapult_nb.widgets.credentials import CredentialsForm
from catapult_nb.widgets.explorer import Explorer
from catapult_nb.widgets.flow_player import FlowPlayer
from catapult_nb.widgets.form import GatherForm
from catapult_nb.widgets.live import EventTable, GatherCountdown, Keypad, SessionPanel

__all__ = [
    "CredentialsForm", "EventTable", "Explorer", "FlowPlayer", "GatherCountdown", "GatherForm", "Keypad",
    "SessionPanel",
]
