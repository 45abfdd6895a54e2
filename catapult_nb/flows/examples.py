"""Ready-made flows for notebooks, tests and benchmarks."""

from __future__ import annotations

from catapult_nb.flows.flow import Flow
from catapult_nb.flows.steps import Ask, Say, Transfer

__all__ = ["OPERATOR", "account_code"]

#: Where :func:`account_code` transfers a caller it could not help.
OPERATOR = "+15550100999"


def account_code(operator: str = OPERATOR) -> Flow:
    """Ask for a 5 digit code, read it back, confirm with 1 (2: try again); after three tries with no
    usable code, say sorry and transfer to ``operator``."""
    return Flow({
        "code": Ask("Please enter your 5 digit code, then star.", max_digits=5, terminating_digits="*",
                    inter_digit_timeout=7, routes={r"\d{5}": "confirm"}, invalid="code", no_input="code",
                    retries=2, exhausted="sorry", answers={"12345": 0.8, "": 0.1, "123": 0.1}),
        "confirm": Ask("You entered {code}. Press 1 if that is right, 2 to try again.", max_digits=1,
                       routes={"1": "thanks", "2": "code"}),
        "thanks": Say("Thank you. Goodbye."),
        "sorry": Say("Sorry, we could not read your code.", next="operator"),
        "operator": Transfer(operator),
    }, start="code", name="account code")
