"""The one base of every exception catapult_nb raises of its own.

``except catapult_nb.Error`` catches any of them; each also keeps its builtin base, so code that
catches ``ValueError`` (a bad option, a malformed file), ``RuntimeError`` (a closed session or store)
or ``AssertionError`` (a pytest wait that failed) goes on working.
"""

from __future__ import annotations

__all__ = ["Error"]


class Error(Exception):
    """Base of every catapult_nb exception; the subclasses say what went wrong and what to do next."""
