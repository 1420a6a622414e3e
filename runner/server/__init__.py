"""``mediamix serve``: the HTTP API and dashboard over a project."""
