"""``sutazai-lsp``: a language server for agent files (pygls), used from VS Code, Neovim, Helix
and Continue.dev."""
