"""``sutazai-tui``: the Textual workbench. Panes and screens each live in their own module; styles
in ``workbench.tcss``; I/O runs in workers so the UI never blocks."""
