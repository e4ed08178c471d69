"""Core plumbing of the service: settings, database, security, problems, metrics."""
