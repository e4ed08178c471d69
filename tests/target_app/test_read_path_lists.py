"""The service's lists of replica-routed and cached reads are the capacity model's lists
(``models.catalogue``): the service may not import the model, so a test keeps them equal."""

from __future__ import annotations

from fastapi.routing import APIRoute

from models.catalogue import CACHEABLE_ENDPOINTS as MODEL_CACHEABLE
from models.catalogue import READ_REPLICA_ENDPOINTS as MODEL_REPLICA_READS
from target_app.api.main import api_routes
from target_app.resilience.read_cache import CACHEABLE_ENDPOINTS
from target_app.resilience.read_routing import READ_REPLICA_ENDPOINTS


def test_the_service_routes_and_caches_the_reads_the_model_expects() -> None:
    assert READ_REPLICA_ENDPOINTS == MODEL_REPLICA_READS
    assert CACHEABLE_ENDPOINTS == MODEL_CACHEABLE
    assert CACHEABLE_ENDPOINTS <= READ_REPLICA_ENDPOINTS


def test_every_listed_read_is_a_get_route_of_the_service() -> None:
    routes = {
        f"{method} {route.path}"
        for route in api_routes()
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    assert routes >= READ_REPLICA_ENDPOINTS
