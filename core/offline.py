"""Nothing leaves the machine: the switches that turn off every dependency's telemetry.

Set once at start-up by every entry point (CLI, gateway, supervisor) with ``setdefault``, so a user
who wants a dependency's telemetry can still set its variable; inherited by every process the stack
starts. ``tests/test_offline.py`` runs the demo in a network namespace and counts connection
attempts; docs/offline.md lists each switch and what it stops.
"""

from __future__ import annotations

import os

TELEMETRY_OFF: dict[str, str] = {
    "ANONYMIZED_TELEMETRY": "False",  # Chroma (posthog), client and `chroma run`
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # LiteLLM fetches its price list at import otherwise
    "LITELLM_TELEMETRY": "False",  # LiteLLM's own usage telemetry
    "HF_HUB_OFFLINE": "1",  # huggingface_hub: never look up a model on the hub
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",  # the cross-tool convention (consoledonottrack.com)
}


def quiet_environment() -> None:
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)
