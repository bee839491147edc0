"""Smoke tests before deploy: cases in ``smoke.yaml``, run live, recorded, or replayed offline."""
