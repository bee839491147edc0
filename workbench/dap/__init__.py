"""The Debug Adapter Protocol server (`sutazai dap`) on the runtime's debug engine."""
