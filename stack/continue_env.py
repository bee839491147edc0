"""Continue.dev finds the gateway token without the user copying it.

A ``.continue/config.yaml`` that sends ``${{ secrets.SUTAZAI_GATEWAY_TOKEN }}`` answers 403 at
interactive priority until ``.continue/.env`` holds the token. ``stack up`` writes that one line
(0600, the file's other lines kept) into the ``.continue`` folder of the workspace or of the nearest
parent that has one, only where its config asks for the token.
"""

from __future__ import annotations

from pathlib import Path

from sutazai.files import PRIVATE_FILE, atomic_write

KEY = "SUTAZAI_GATEWAY_TOKEN"


def continue_folder(root: Path) -> Path | None:
    for folder in (root, *root.parents):
        config = folder / ".continue" / "config.yaml"
        try:
            if KEY in config.read_text(encoding="utf-8"):
                return config.parent
        except (OSError, UnicodeDecodeError):
            continue
    return None


def share_token(root: Path, token: str) -> Path | None:
    """Write ``SUTAZAI_GATEWAY_TOKEN=token`` into the right ``.continue/.env``; the path, or None."""
    folder = continue_folder(root)
    if folder is None:
        return None
    env = folder / ".env"
    try:
        lines = env.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    kept = [line for line in lines if not line.startswith(f"{KEY}=")]
    atomic_write(env, ("\n".join([*kept, f"{KEY}={token}"]) + "\n").encode(), mode=PRIVATE_FILE)
    return env
