"""How before-dialect.sqlite3 was made: run with the package as it was before the dialect column
(commit cbb6772) first on the path, ``python before-dialect.py before-dialect.sqlite3``, then the file's
WAL checkpointed and vacuumed. tests/test_store_v2.py opens a copy with the current code."""

import sys

from catapult_nb.store import EventStore

path = sys.argv[1]
with EventStore(path) as s:
    s.add({"eventType": "gather", "reason": "max-digits", "state": "completed", "digits": "007",
           "time": "2014-07-31T01:01:27Z", "callId": "c-v1", "gatherId": "gtr-1", "tag": "t"},
          source="receiver", session="old", received_at=1406768488.0)
    s.add({"eventType": "hangup", "callId": "c-v1", "cause": "NORMAL_CLEARING",
           "time": "2014-07-31T01:01:30Z"},
          source="import.jsonl", received_at=1406768491.0)
    s.add({"eventType": "gather", "eventTime": "2026-01-01T10:00:05.250Z", "accountId": "9900000",
           "applicationId": "a-1", "from": "+15551230000", "to": "+15551239999", "direction": "inbound",
           "callId": "c-v2", "callUrl": "http://127.0.0.1/api/v2/accounts/9900000/calls/c-v2",
           "startTime": "2026-01-01T10:00:00.000Z", "digits": "1234", "terminatingDigit": "#"},
          received_at=1767261605.3)
    s.add({"eventType": "disconnect", "eventTime": "2026-01-01T10:00:09.000Z", "accountId": "9900000",
           "applicationId": "a-1", "from": "+15551230000", "to": "+15551239999", "direction": "inbound",
           "callId": "c-v2", "callUrl": "http://127.0.0.1/api/v2/accounts/9900000/calls/c-v2",
           "startTime": "2026-01-01T10:00:00.000Z", "cause": "hangup"}, received_at=1767261609.1)
    s.record_gather("gtr-1", "c-v1", {"maxDigits": "3"}, "2014-07-31T01:01:20Z")
    print(s.to_dataframe()[["eventType", "time", "callId"]])
