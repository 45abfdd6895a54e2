"""The ``catapult-nb`` command line (also ``python -m catapult_nb``).

Each subcommand is a pair in :data:`SUBCOMMANDS`: a name and a function that configures its argparse
sub-parser and sets ``handler`` (a function taking the parsed arguments and returning the exit code).
To add a command (``demo``, say), write ``add_demo(subparsers)`` and append ``("demo", add_demo)``.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["SUBCOMMANDS", "build_parser", "main"]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _speed(text: str) -> float:
    from catapult_nb.simulator.clock import check_speed

    try:
        return check_speed(_positive_float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return value


# -- simulator -------------------------------------------------------------------------------------


def add_simulator(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "simulator",
        help="run the Catapult v1 simulator until Ctrl-C",
        description="Serve the embedded Catapult v1 simulator (API under /v1, virtual phone under /_sim) "
        "until SIGINT or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8900, help="port (default 8900; 0 picks a free one)")
    parser.add_argument(
        "--speed", type=_speed, default=1.0,
        help="how many times faster than real time API time runs (default 1.0)",
    )
    parser.add_argument(
        "--prompt-timing", choices=("audio", "estimate"), default="audio",
        help="time a sentence by its audio rendered with espeak-ng (audio, the default) or at 150 words "
        "per minute (estimate)",
    )
    parser.add_argument("--user-id", default="u-simulator", help="the user id in v1 API paths")
    parser.add_argument(
        "--account-id", type=_account_id, default="9900000",
        help="the account id in v2 API paths (/api/v2/accounts/ID/calls; default 9900000)",
    )
    parser.add_argument("--api-token", default="t-simulator", help="the API token (Basic auth user name)")
    parser.add_argument(
        "--api-secret", default="simulator-secret", help="the API secret (Basic auth password)"
    )
    parser.set_defaults(handler=run_simulator)


def _account_id(text: str) -> str:
    if not text.isdigit() or len(text) > 20:
        raise argparse.ArgumentTypeError(f"an account id is digits, like 9900000; got {text!r}")
    return text


def run_simulator(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 1 when the address cannot be bound."""
    from catapult_nb.redact import Secret
    from catapult_nb.simulator.server import SimulatorServer
    from catapult_nb.simulator.state import SimConfig

    config = SimConfig(
        speed=args.speed, user_id=args.user_id, api_token=args.api_token, api_secret=Secret(args.api_secret),
        prompt_timing=args.prompt_timing, account_id=args.account_id,
    )
    stopping = {signal.SIGINT, signal.SIGTERM}
    # Blocked before the serving thread starts (it inherits the mask), so they wait for sigwait below.
    signal.pthread_sigmask(signal.SIG_BLOCK, stopping)
    server = SimulatorServer(config, args.host, args.port)
    try:
        server.start_serving()
    except OSError as exc:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stopping)
        print(
            f"catapult-nb simulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}. "
            "Pick another --port (0 chooses a free one).",
            file=sys.stderr,
        )
        return 1
    print(f"Catapult simulator listening on {server.base_url}", flush=True)
    try:
        signal.sigwait(stopping)
    finally:
        server.stop_serving()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stopping)
    return 0


# -- demo ------------------------------------------------------------------------------------------


def add_demo(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from catapult_nb.demo import DEFAULT_NOTEBOOK

    parser = subparsers.add_parser(
        "demo",
        help="run the quickstart notebook headless on the embedded simulator",
        description="Execute the quickstart notebook on the embedded simulator, print the gather outcome "
        "and the events table, and write the executed notebook as HTML. Exits 1 if a cell fails.",
    )
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK,
                        help=f"the notebook to run (default {DEFAULT_NOTEBOOK})")
    parser.add_argument("--output", type=Path, default=Path("build"),
                        help="folder for the executed notebook's HTML (default build/)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds each cell may take (default 120)")
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from catapult_nb.demo import run

    return run(args.notebook, args.output, args.timeout)


#: (name, configure) for each subcommand, in the order ``--help`` lists them.
SUBCOMMANDS: list[tuple[str, Callable[[argparse._SubParsersAction], None]]] = [  # type: ignore[type-arg]
    ("simulator", add_simulator),
    ("demo", add_demo),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="catapult-nb",
        description="Learn and prototype the Bandwidth Catapult v1 Gather API.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, configure in SUBCOMMANDS:
        configure(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for usage errors, as argparse does)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return int(exc.code or 0)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return int(handler(args))
