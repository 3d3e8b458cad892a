// The console's model (console/src/queue.ts): an approval only moves forward, whatever order
// the snapshot and the events arrive in; the queue's and the history's order; the durations.

import { describe, expect, it } from "vitest";
import { countdown, duration, fromSnapshot, historyOf, merge, pendingOf } from "../../console/src/queue.js";
import type { Approval, Approvals } from "../../console/src/queue.js";

function approval(id: string, over: Partial<Approval> = {}): Approval {
  return {
    id, state: "pending", approver: "finance-oncall", rule: "big-refund", policy: "p", policy_hash: "h", action: { tool: "t" },
    decision: { reason: "r" }, decision_seq: 1, decision_hash: "d", on_timeout: "deny", created: "2026-01-01T00:00:00.000Z",
    expires: "2026-01-01T00:15:00.000Z", outcome: null, resolved_by: null, note: null, resolved_at: null, resolution_seq: null, resolution_hash: null,
    ...over,
  };
}
const approved = (id: string, seq: number | null, at = "2026-01-01T00:05:00.000Z") =>
  approval(id, { state: "approved", outcome: "allow", resolved_by: "alice", resolved_at: at, resolution_seq: seq, resolution_hash: seq === null ? null : "x" });

describe("the console's model", () => {
  it("never moves an approval back: a late 'created' or an unrecorded resolution loses to what is known", () => {
    let m: Approvals = new Map();
    m = merge(m, approved("a", 7));
    m = merge(m, approval("a"));
    expect(m.get("a")!.state).toBe("approved");
    m = merge(m, approved("a", null));
    expect(m.get("a")!.resolution_seq).toBe(7);
    m = merge(m, approval("b"));
    m = merge(m, approved("b", null));
    m = merge(m, approved("b", 9));
    expect(m.get("b")!.resolution_seq).toBe(9);
  });

  it("a snapshot replaces the pending ones (gone while disconnected) and keeps the history", () => {
    let m: Approvals = new Map();
    m = merge(m, approval("gone"));
    m = merge(m, approved("old", 3));
    m = fromSnapshot(m, { now: "", who: { identity: "alice", role: "approver", approvers: [] }, pending: [approval("new")], history: [approved("later", 5)] });
    expect([...m.keys()].sort()).toEqual(["later", "new", "old"]);
  });

  it("the queue is the first to expire first; the history the last resolved first", () => {
    let m: Approvals = new Map();
    m = merge(m, approval("late", { expires: "2026-01-01T01:00:00.000Z" }));
    m = merge(m, approval("soon", { expires: "2026-01-01T00:01:00.000Z" }));
    m = merge(m, approved("first", 1, "2026-01-01T00:01:00.000Z"));
    m = merge(m, approved("second", 2, "2026-01-01T00:02:00.000Z"));
    expect(pendingOf(m).map((a) => a.id)).toEqual(["soon", "late"]);
    expect(historyOf(m).map((a) => a.id)).toEqual(["second", "first"]);
  });

  it("durations and countdowns", () => {
    expect(duration(4_200)).toBe("4s");
    expect(duration(125_000)).toBe("2m 05s");
    expect(duration(3_780_000)).toBe("1h 03m");
    expect(duration(-5)).toBe("0s");
    expect(countdown(839_100)).toBe("14:00");
    expect(countdown(3_000)).toBe("0:03");
    expect(countdown(2_001)).toBe("0:03");
    expect(countdown(3_723_000)).toBe("1:02:03");
    expect(countdown(-1)).toBe("0:00");
  });
});
