"""The shared batched backend: the gateway, its engines, and the one-command local stack."""
