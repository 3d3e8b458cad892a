"""Enforcement points for agent frameworks, each deciding with a :class:`tollgate.Gate`.

- :mod:`tollgate.adapters.mcp`: :class:`~tollgate.adapters.mcp.GuardedSession`, a guard for the
  tool calls of an MCP client (the ``mcp`` Python SDK: ``pip install "tollgate[mcp]"``).

Each adapter is its own module and imports its framework only when it is imported itself:
``import tollgate.adapters`` needs none of them.
"""

__all__: list = []
