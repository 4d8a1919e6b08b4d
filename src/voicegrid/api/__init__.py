"""REST API v1 (FastAPI): tenants, users, keys, agents, numbers, trunks, credentials, limits, audit.

`app.create_app` builds it. Nothing is imported here: a node serves calls before it loads the API.
"""
