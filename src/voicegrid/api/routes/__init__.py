"""The REST API v1, one module per resource."""
