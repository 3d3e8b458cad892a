// The audit log failing under a running server, and a server started where the log cannot be
// written (issue 11, finding 5). A full disk is simulated with RLIMIT_FSIZE (`ulimit -f`): a
// write past the limit fails with EFBIG, as one on a full disk fails with ENOSPC.

import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { http, REFUND_ESCALATE, REFUND_SMALL, runCli, startServer, tempDir } from "./helpers.js";

async function eventually<T>(get: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the audit log fails while serving", () => {
  it("decisions answer 503, /readyz is not ready, approve answers 503 and leaves the approval pending; after a restart it can be approved", async () => {
    const auditDir = join(tempDir(), "audit");
    const s = await startServer({ auditDir, fileSizeLimitKiB: 1024 });
    const esc = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_ESCALATE } });
    expect(esc.body.decision).toBe("escalate");
    const id = esc.body.approval_id as string;
    expect((await http(s, "GET", "/readyz")).status).toBe(200);

    // Large (recordable) actions fill the segment up to the limit: a write fails.
    const big = { ...REFUND_SMALL, args: { ...REFUND_SMALL.args, blob: "a".repeat(300_000) } };
    let failed: Awaited<ReturnType<typeof http>> | undefined;
    for (let i = 0; i < 10 && failed === undefined; i++) {
      const r = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: big } });
      if (r.status !== 200) failed = r;
    }
    expect(failed?.status).toBe(503);
    expect(failed?.body.error.code).toBe("audit_unavailable");

    const ready = await eventually(() => http(s, "GET", "/readyz"), (r) => r.status === 503);
    expect(ready.status).toBe(503);
    expect(ready.body.error).toMatchObject({ code: "audit_unavailable", message: expect.stringMatching(/audit log cannot be written/) });
    const small = await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } });
    expect(small.status).toBe(503);

    for (const verb of ["approve", "deny"]) {
      const r = await http(s, "POST", `/v1/approvals/${id}/${verb}`, { token: "approver", body: { note: "ok" } });
      expect(r.status, verb).toBe(503); // not 500
      expect(r.body.error.code, verb).toBe("audit_unavailable");
      expect(r.body.error.message).toMatch(/stays pending/);
    }
    const a = await http(s, "GET", `/v1/approvals/${id}`, { token: "approver" });
    expect(a.body).toMatchObject({ state: "pending", resolved_by: null });
    await s.stop();

    // Space again: a new server recovers the log; the approval is still pending and resolves.
    const again = await startServer({ auditDir });
    try {
      const r = await http(again, "POST", `/v1/approvals/${id}/approve`, { token: "approver", body: { note: "ok" } });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ state: "approved", resolved_by: "alice", note: "ok", resolution_seq: expect.any(Number) });
      expect((await http(again, "GET", "/readyz")).status).toBe(200);
    } finally {
      expect(await again.stop()).toBe(0);
    }
    const verify = await runCli(["audit", "verify", auditDir]);
    expect(verify.code, verify.out + verify.err).toBe(0);
  }, 60_000);
});

describe("starting where the audit log cannot be written", () => {
  it("prints what is wrong and where, and exits non-zero (not an internal error)", async () => {
    const auditDir = join(tempDir(), "audit");
    const err = await startServer({ auditDir, fileSizeLimitKiB: 0 }).then(() => null, (e: Error) => e);
    expect(err).not.toBeNull();
    expect(err!.message).toMatch(/exited with 2/);
    expect(err!.message).toContain(`tollgate serve: cannot write the audit log in ${auditDir}: file too large (EFBIG)`);
    expect(err!.message).not.toMatch(/internal error|\n\s+at /);
  }, 30_000);
});
