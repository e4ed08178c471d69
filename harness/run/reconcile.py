"""Client against server: did the service count every request the load generator counted?

The load generator counts each API request it completed per ``"METHOD /route"``; the service
counts each request it answered in ``http_requests_total{route,method,status}``. The
difference of two scrapes, one just before the load starts and one after it has stopped,
is the server's side. On a clean run the two agree exactly, endpoint by endpoint. They differ
when a request never reached the service (connection refused, a timeout before the service
answered), when a load-generator worker died and its last report was lost, or when something
else hit the service meanwhile: each is a finding, never noise to be rounded away.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.run_records import EndpointCounts, ServerVsClient


def reconcile(client: Mapping[str, int], server: Mapping[str, int]) -> ServerVsClient:
    """The ``server_vs_client`` object of ``run.json``.

    ``client`` and ``server`` map ``"METHOD /route"`` to request counts; PAGE samples and the
    harness's own routes (probe, scrape) must already be left out of both.
    """
    by_endpoint = tuple(
        EndpointCounts(e, int(client.get(e, 0)), int(server.get(e, 0)))
        for e in sorted(set(client) | set(server))
    )
    client_total = sum(int(v) for v in client.values())
    mismatched = tuple(row.endpoint for row in by_endpoint if row.client != row.server)
    return ServerVsClient(
        client_total=client_total,
        server_total=sum(int(v) for v in server.values()),
        match=not mismatched and client_total > 0,
        by_endpoint=by_endpoint,
        mismatched=mismatched,
    )


def unavailable(reason: str) -> ServerVsClient:
    """A ``server_vs_client`` object for a run where the server side could not be read."""
    return ServerVsClient(0, 0, match=False, unavailable=reason)
