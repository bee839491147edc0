"""``python -m sutazai.lsp``: how an editor starts the server from a chosen interpreter."""

from sutazai.lsp.server import main

main()
