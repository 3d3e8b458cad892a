// A server whose standard output is a pipe that closes (its supervisor's log reader went away)
// must keep serving: log lines are dropped from then on (src/server/log-output.ts), by the
// primary and by the workers (pino included), and it still shuts down cleanly. Before, the next
// log line died with an unhandled EPIPE (the primary exited; a worker crashed and was replaced).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { http, REFUND_SMALL, root, startServer } from "./helpers.js";

const POLICY = readFileSync(join(root, "test/fixtures/billing-agent-stateless.yaml"), "utf8");

describe("stdout closed under a running server", () => {
  it("keeps deciding, reloading and shutting down cleanly, with every worker alive", async () => {
    // debug: the workers log every request, so each request below writes to the closed pipe.
    const s = await startServer({ workers: 2, args: ["--log-level", "debug"] });
    const before = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } });
    expect(before.status).toBe(200);
    const pids = new Set<number>();
    for (const l of s.lines) {
      const j = JSON.parse(l) as { role?: string; pid?: number };
      if (j.role === "worker" && j.pid) pids.add(j.pid);
    }
    expect(pids.size).toBe(2);

    s.proc.stdout!.destroy(); // the log reader goes away: every later write gets EPIPE
    await new Promise((r) => setTimeout(r, 100));

    for (let i = 0; i < 40; i++) {
      const r = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: { ...REFUND_SMALL, args: { ...REFUND_SMALL.args, amount: i + 1 } } } });
      expect(r.status).toBe(200);
    }
    // The primary logs a policy change ("policy loaded").
    const put = await http(s, "PUT", "/v1/policy", { token: "admin", body: POLICY.replace("description: Refund bot for the support team", "description: revised"), headers: { "content-type": "application/yaml" } });
    expect(put.status).toBe(200);
    expect(put.body.changed).toBe(true);
    // Still the same two workers: none died on a log line and was replaced.
    const metrics = await http(s, "GET", "/metrics", { token: "admin" });
    expect(metrics.status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } })).status).toBe(200);
    expect(s.proc.exitCode).toBeNull();
    expect(s.stderr.join("")).not.toMatch(/EPIPE|worker (died|exited)/);

    expect(await s.stop()).toBe(0); // shutdown logs to the closed pipe too
    expect(s.stderr.join("")).not.toMatch(/EPIPE/);
  }, 60_000);
});
