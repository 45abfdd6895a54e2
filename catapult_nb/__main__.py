"""``python -m catapult_nb``: the command line (see :mod:`catapult_nb.cli`)."""

from catapult_nb.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
