"""The gateway: one HTTP server in front of every engine, speaking the Ollama and OpenAI APIs.

Requests from both dialects become one internal :class:`ChatRequest`; the scheduler gives it an
engine slot; the engine adapter streams :class:`Delta` pieces back; each dialect encodes them.
"""
