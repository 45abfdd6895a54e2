"""From Catapult v1 to Bandwidth's Voice API v2 without surprises: a port that keeps behaviour, and its proof.

::

    from catapult_nb import migrate

    port = migrate.gather({"maxDigits": "5", "terminatingDigits": "*", "interDigitTimeout": "7"})
    print(port.bxml)               # the v2 <Gather> that behaves like the v1 gather
    port.differences               # what v2 cannot keep, and what the app must do instead
    migrate.compare(options)       # the same callers through v1 and the naive port: who is affected
    migrate.compare(options, port) # ... and through the port: nobody
    migrate.v1_reason(webhook, options)   # v1's reason read back from a v2 gather webhook

Modules: :mod:`~catapult_nb.migrate.port` (a gather: :func:`gather`, :func:`naive`, :func:`v1_reason`),
:mod:`~catapult_nb.migrate.flows` (a whole flow: :func:`flow`), :mod:`~catapult_nb.migrate.compare`
(:func:`compare`). The story is in ``docs/migration.md``.
"""

from catapult_nb.migrate.compare import MigrationComparison, compare
from catapult_nb.migrate.flows import FlowMigration, flow
from catapult_nb.migrate.port import GATHER_URL, Difference, Migration, from_bxml, gather, naive, v1_reason

__all__ = [
    "GATHER_URL", "Difference", "FlowMigration", "Migration", "MigrationComparison", "compare", "flow",
    "from_bxml", "gather", "naive", "v1_reason",
]
