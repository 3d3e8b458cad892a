"""A real MCP server (the ``mcp`` SDK's MCPServer) for tests/test_adapter_mcp.py.

Every tool call it receives is appended, as one JSON line, to the file given on the command line
(or to :func:`build`), so that a test can prove what reached the server and what did not.

Run over stdio: ``python mcp_tool_server.py LOG``; in process: ``build(LOG)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer


def build(log: "str | Path") -> MCPServer:
    server = MCPServer("tollgate-test-tools")
    path = Path(log)

    def seen(tool: str, args: dict) -> None:
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"tool": tool, "args": args}) + "\n")

    @server.tool()
    def echo(text: str) -> str:
        """Returns its text."""
        seen("echo", {"text": text})
        return f"echo: {text}"

    @server.tool()
    def write_file(path: str, text: str) -> str:
        """Pretends to write a file."""
        seen("write_file", {"path": path, "text": text})
        return f"wrote {len(text)} characters to {path}"

    @server.tool()
    def pay(amount: int) -> str:
        """Pretends to pay."""
        seen("pay", {"amount": amount})
        return f"paid {amount}"

    return server


def seen(log: "str | Path") -> list:
    """The calls the server received, in order."""
    p = Path(log)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line]


if __name__ == "__main__":
    build(sys.argv[1]).run("stdio")
