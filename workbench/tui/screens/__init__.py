"""Screens pushed over the panes: agent detail, replay, compare, new agent, help."""
