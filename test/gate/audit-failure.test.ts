// Approving while the audit log cannot be written (issue 11, finding 5): the approval is resolved
// only when its record can be written. Writes fail by injection (as on a full disk: ENOSPC).
import { afterEach, describe, expect, it, vi } from "vitest";

let diskFull = false;
vi.mock("../../src/audit/fsutil.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/audit/fsutil.js")>();
  return {
    ...real,
    writeAll: async (...args: Parameters<typeof real.writeAll>) => {
      if (diskFull) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      return real.writeAll(...args);
    },
  };
});

const { Gate } = await import("../../src/gate/gate.js");
const { ApprovalError } = await import("../../src/approvals/approval.js");
const { Policy } = await import("../../src/policy.js");
const { verifyLog } = await import("../../src/audit/verify.js");
const { tempDir } = await import("../audit/helpers.js");

const POLICY = `tollgate: 1
name: gate-failure
approvers:
  finance: { timeout: 10m, on_timeout: deny }
rules:
  - { id: big-refund, effect: escalate, approver: finance, reason: big refunds need finance, when: { tool: payments.refund, args.amount: { gt: 500 } } }
  - { id: refunds, effect: allow, when: { tool: payments.refund } }
`;

type GateT = Awaited<ReturnType<typeof Gate.open>>;
const gates: GateT[] = [];
async function openGate(dir: string): Promise<GateT> {
  const gate = await Gate.open({ policy: Policy.fromYaml(POLICY), auditDir: dir, audit: { batchWindowMs: 0 }, onError: () => undefined });
  gates.push(gate);
  return gate;
}

afterEach(async () => {
  diskFull = false;
  for (const g of gates.splice(0)) await g.close().catch(() => undefined);
});

describe("Gate.approve while the audit log cannot be written", () => {
  it("after a failed decision record: throws 'unavailable' at once, the approval stays pending; after reopening it resolves", async () => {
    const dir = tempDir("gate-full");
    const gate = await openGate(dir);
    const d = await gate.check({ tool: "payments.refund", args: { amount: 900 } });
    expect(d.decision).toBe("escalate");
    diskFull = true;
    await expect(gate.check({ tool: "payments.refund", args: { amount: 20 } })).rejects.toThrow(/ENOSPC/);
    const err = await gate.approve(d.approval_id!, { by: "alice" }).catch((e) => e);
    expect(err).toBeInstanceOf(ApprovalError);
    expect(err).toMatchObject({ code: "unavailable" });
    expect(await gate.approvals.get(d.approval_id!)).toMatchObject({ state: "pending", resolved_by: null });
    diskFull = false; // space again, but this log has failed for good: still refused, still pending
    await expect(gate.deny(d.approval_id!, { by: "bob" })).rejects.toMatchObject({ code: "unavailable" });
    expect((await gate.approvals.get(d.approval_id!))!.state).toBe("pending");
    await gate.close().catch(() => undefined);
    gates.length = 0;

    const again = await openGate(dir);
    const approved = await again.approve(d.approval_id!, { by: "alice", note: "ok" });
    expect(approved).toMatchObject({ state: "approved", resolved_by: "alice", resolution_seq: expect.any(Number) });
    await again.close();
    expect((await verifyLog(dir)).ok).toBe(true);
  });

  it("when the transition's own record is the first write to fail: undone, pending, and a retry is refused too", async () => {
    const dir = tempDir("gate-full-first");
    const gate = await openGate(dir);
    const d = await gate.check({ tool: "payments.refund", args: { amount: 900 } });
    let woken = false;
    void gate.approvals.wait(d.approval_id!).then(() => (woken = true), () => undefined);
    diskFull = true;
    const err = await gate.approve(d.approval_id!, { by: "alice" }).catch((e) => e);
    expect(err).toMatchObject({ code: "unavailable", message: expect.stringMatching(/stays pending: the audit record to approve it could not be written \(.*ENOSPC/) });
    expect(await gate.approvals.get(d.approval_id!)).toMatchObject({ state: "pending", resolved_by: null, note: null, resolved_at: null });
    expect(await gate.approvals.store.unaudited()).toEqual([]);
    await expect(gate.approve(d.approval_id!, { by: "alice" })).rejects.toMatchObject({ code: "unavailable" });
    await new Promise((r) => setTimeout(r, 300)); // a poll: nothing to retry, nobody woken
    expect(woken).toBe(false);
    expect((await gate.approvals.get(d.approval_id!))!.state).toBe("pending");
  });
});
