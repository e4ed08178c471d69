"""The HTTP API: dependencies (who may call), pagination, and the routes by resource."""
