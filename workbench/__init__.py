"""The user's side: the ``sutazai`` CLI and the ``sutazai-tui`` Textual app."""
