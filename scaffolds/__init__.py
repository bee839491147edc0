"""Templates and generators for workspaces and agents (jinja2), written atomically."""
