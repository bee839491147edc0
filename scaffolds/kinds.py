"""What each agent kind starts with: prompt, tools and smoke cases that a small model can pass.

The cases check what each agent is for (the summary names what the text was about, the code
defines a function, the answer names Paris), so a gate on them catches a broken agent: a prompt
replaced by "reply with one word: banana" fails them. Each was tried on the embedded SmolLM2-135M.
"""

from __future__ import annotations

from typing import Any

KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "document": {
        "description": "Summarises documents in one or two sentences.",
        "prompt": "You summarise documents. Answer with a short summary of the text you are given, "
        "in one or two plain sentences.",
        "tools": ["word_count"],
        "memory": False,
        "example_tool": "first_sentence",
        "example_tool_doc": "Return the first sentence of a text.",
        "example_tool_body": 'return text.split(".")[0].strip() + "."',
        "smoke_cases": [
            {
                "name": "summarises",
                "input": "Summarise: The cat sat on the mat. It was warm.",
                "expect": {"contains": ["cat", "mat"]},
            },
            {
                "name": "keeps-the-subject",
                "input": "Summarise: Paris is the capital of France.",
                "expect": {"contains": "Paris"},
            },
        ],
    },
    "code": {
        "description": "Explains and writes small pieces of Python code.",
        "prompt": "You are a helpful programming assistant. Answer questions about code briefly "
        "and show short Python examples when useful.",
        "tools": ["calculator"],
        "memory": False,
        "example_tool": "count_lines",
        "example_tool_doc": "Count the lines of a piece of code.",
        "example_tool_body": "return str(len(text.splitlines()))",
        "smoke_cases": [
            {
                "name": "writes-code",
                "input": "Write a Python function that adds two numbers.",
                "expect": {"regex": "def \\w+\\("},
            },
            {
                "name": "explains-len",
                "input": "What does len() do in Python?",
                "expect": {"contains": "length"},
            },
        ],
    },
    "conversation": {
        "description": "A friendly conversational assistant that remembers what it is told.",
        "prompt": "You are a friendly assistant. Reply briefly and politely.",
        "tools": [],
        "memory": True,
        "example_tool": "shout",
        "example_tool_doc": "Return the text in capital letters.",
        "example_tool_body": "return text.upper()",
        "smoke_cases": [
            {
                "name": "greets",
                "input": "Say hello to me.",
                "expect": {"regex": "(?i)\\b(hello|hi|chatbot|assistant|help)\\b"},
            },
            {
                "name": "introduces-itself",
                "input": "Hello! Who are you?",
                "expect": {"regex": "(?i)\\b(I|assistant|chatbot)\\b"},
            },
        ],
    },
    "knowledge": {
        "description": "Answers questions from its knowledge memory, citing what it found.",
        "prompt": "You answer factual questions briefly. Use the relevant memories if there are any.",
        "tools": ["clock"],
        "memory": True,
        "example_tool": "define",
        "example_tool_doc": "Return a one-line placeholder definition of a term.",
        "example_tool_body": 'return f"{text}: see the knowledge base."',
        "smoke_cases": [
            {
                "name": "answers",
                "input": "What is the capital of France?",
                # a plain fact comes from what it knows: no tool is called for it
                "expect": {"contains": "Paris", "trajectory": {"calls": [], "mode": "exact"}},
            },
            {
                "name": "names-a-colour",
                "input": "Name a primary colour.",
                "expect": {"regex": "(?i)\\b(red|blue|yellow)\\b"},
            },
        ],
    },
}

DEMO_AGENTS: dict[str, str] = {
    "summarizer": "document",
    "code-helper": "code",
    "chat-buddy": "conversation",
    "fact-finder": "knowledge",
}

# The demo's composed agent: a planner that hands work to two demo agents (agents calling agents).
DEMO_PLANNER: dict[str, Any] = {
    "name": "planner",
    "kind": "document",
    "delegates": ["fact-finder", "summarizer"],
    "tool_choice": "required",  # a small model would rather answer itself than hand the work on
    "description": "Plans an answer, asking fact-finder for the facts and summarizer for a short summary.",
    "prompt": "You plan answers. Ask ask_fact_finder for the facts a question needs, then ask "
    "ask_summarizer to summarise them, and answer with that summary.",
    "tools": [],
    "memory": False,
    "smoke_cases": [
        {
            "name": "answers",
            "input": "What is the capital of France, in one sentence?",
            "tags": ["fast"],
            "expect": {
                "contains": "Paris",
                "trajectory": {"calls": ["ask_fact_finder"], "mode": "in_order"},
            },
        },
        {
            "name": "asks-for-facts",
            "input": "Plan a short note about Paris.",
            "expect": {"trajectory": {"calls": ["ask_fact_finder"], "mode": "superset"}},
        },
    ],
}

# The first case of every kind is quick and tagged: `sutazai smoke --tag fast`, `pytest -m fast`.
for _defaults in KIND_DEFAULTS.values():
    _defaults["smoke_cases"][0].setdefault("tags", ["fast"])
