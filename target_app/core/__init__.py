"""Core plumbing of the service: settings, errors, the database and its schema, security,
problem details, metrics and request cost."""
