"""SutazAI Workbench: agents, a shared batched backend, and the tools to live with them.

Everything lives under the ``sutazai`` namespace; each top-level folder of the repository is one
sub-package (``agents`` -> ``sutazai.agents``, ``stack`` -> ``sutazai.stack``, ...).
"""

__version__ = "0.1.0"
