// Connections that a client keeps open but no longer uses must not hold up the server's
// shutdown (before, the workers waited out the primary's 30 s and were killed: exit 1):
//   - an approvals stream the console stopped reading without closing the connection (an
//     aborted fetch whose socket the client keeps): its response says `Connection: close`, so
//     ending it at shutdown closes the connection;
//   - a connection that never sent a byte (a client's or a load balancer's spare one): not
//     "idle" to Node, so the drain closes it itself.

import { connect } from "node:net";
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { http, startServer } from "./helpers.js";

describe("shutdown with lingering connections", () => {
  it("an abandoned approvals stream does not hold it up", async () => {
    const s = await startServer({ workers: 2 });
    for (let k = 0; k < 3; k++) {
      const t = await http(s, "POST", "/v1/approvals/stream/ticket", { token: "approver" });
      const abort = new AbortController();
      const res = await fetch(`${s.url}/v1/approvals/stream?ticket=${t.body.ticket}`, { headers: { accept: "text/event-stream" }, signal: abort.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get("connection")).toBe("close");
      abort.abort(); // this process lives on, and so may the socket
    }
    expect(await s.stop()).toBe(0);
    expect(s.lines.join("\n")).not.toMatch(/workers did not finish in time/);
  });

  it("a connection that never sent a request does not hold it up", async () => {
    const s = await startServer({ workers: 2 });
    const idle: Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const socket = connect(s.port, "127.0.0.1");
      socket.on("error", () => undefined);
      await new Promise<void>((ok) => socket.once("connect", () => ok()));
      idle.push(socket);
    }
    try {
      expect(await s.stop()).toBe(0);
      expect(s.lines.join("\n")).not.toMatch(/workers did not finish in time/);
    } finally {
      for (const socket of idle) socket.destroy();
    }
  });
});
