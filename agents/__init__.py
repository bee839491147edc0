"""The agent runtime: specs, the async agent loop, tools, memory and the run store."""
