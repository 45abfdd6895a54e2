"""catapult_nb — learn and prototype the Bandwidth Catapult v1 Gather API in a Jupyter notebook."""

from catapult_nb.options import GatherOptions, OptionError, Prompt

__all__ = ["GatherOptions", "OptionError", "Prompt"]
__version__ = "0.1.0"
