// The primary's approvals: the store — SQLite (one owner: the process with the audit log, which
// writes the transition records) or PostgreSQL (shared by several instances, each writing the
// records of the transitions it makes) — opened through the Recorder so that escalations get their
// approvals and transitions their records, and the approval RPCs of the workers — every check
// of who may see, list or resolve what through access.ts.

import type { Approval } from "../approvals/approval.js";
import type { Approvals } from "../approvals/approvals.js";
import type { ServerConfig } from "./config.js";
import { listableApprovers, requireRole, resolvableApproval, visibleApproval } from "./access.js";
import { approvalRecords } from "./approval-records.js";
import type { ApprovalRecord } from "./approval-records.js";
import type { AuditOwner } from "./audit-owner.js";
import { startupError } from "./audit-owner.js";
import type { RpcParams } from "./ipc.js";
import type { Log } from "./log.js";
import type { Principal } from "./tokens.js";
import type { Recorder } from "../pipeline/record.js";
import type { Redeemed } from "../pipeline/redeem.js";

/** A postgres:// URL without its password (for messages); anything else as it is. */
export function redactUrl(location: string): string {
  if (!/^postgres(ql)?:\/\//i.test(location)) return location;
  try {
    const u = new URL(location);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://…";
  }
}

export class ApprovalsOwner {
  /** Long polls (`approval-wait`), aborted at shutdown: they answer the approval as it is. */
  private readonly waits = new AbortController();
  private stopping = false;

  private constructor(
    readonly approvals: Approvals,
    private readonly logger: Log,
    private readonly recorder: Recorder,
  ) {}

  /** Opens the store (a startupError if it cannot be). */
  static async open(config: ServerConfig, logger: Log, audit: AuditOwner): Promise<ApprovalsOwner> {
    try {
      const approvals = await audit.recorder.openApprovals({
        store: config.approvals,
        onError: (e) => logger.warn("approvals", { detail: e.message }),
        // Escalations are opened in one store transaction per event-loop turn: SQLite commits
        // with synchronous=FULL, and one fsync per escalation would stall the primary at a few
        // hundred/s. A commit blocks the primary's event loop, so it is followed by a pause at
        // least as long as it took: the audit acknowledgements of other decisions keep flowing.
        batch: "turn",
        onBatchError: (e, count) => logger.error("could not open approvals", { detail: e.message, count }),
        // Pending counter contributions follow their approval (spec section 8).
        onTransition: (a) => audit.counters?.onTransition(a),
      });
      return new ApprovalsOwner(approvals, logger, audit.recorder);
    } catch (err) {
      throw startupError(err, "the approvals database", redactUrl(config.approvals));
    }
  }

  async get(p: RpcParams["approval-get"], who: Principal): Promise<Approval> {
    return visibleApproval(await this.approvals.get(p.id), p.id, who);
  }

  /** The approval's audit records, from this instance's log (approval-records.ts). */
  async records(p: RpcParams["approval-records"], who: Principal, auditDir: string): Promise<ApprovalRecord[]> {
    requireRole("approval-records", who);
    return approvalRecords(auditDir, visibleApproval(await this.approvals.get(p.id), p.id, who));
  }

  async wait(p: RpcParams["approval-wait"], who: Principal): Promise<Approval | undefined> {
    const { id } = p;
    visibleApproval(await this.approvals.get(id), id, who);
    if (this.stopping) return this.approvals.get(id);
    try {
      return await this.approvals.wait(id, { timeoutMs: p.timeoutMs, signal: this.waits.signal });
    } catch (err) {
      if (this.waits.signal.aborted) return this.approvals.get(id); // shutting down: answer with the state as it is
      throw err;
    }
  }

  async list(p: RpcParams["approval-list"], who: Principal): Promise<Approval[]> {
    requireRole("approval-list", who);
    const state = p.state as Approval["state"] | undefined;
    const { approver } = p;
    const limit = p.limit ?? 1000;
    const scope = listableApprovers(who, approver);
    if (scope === "all" || approver !== undefined) {
      if (scope !== "all" && scope.length === 0) return [];
      return this.approvals.list({ ...(state ? { state } : {}), ...(approver ? { approver } : {}), limit });
    }
    // An approver without ?approver=: the approvals of each approver it names.
    const mine = (await Promise.all(scope.map((name) => this.approvals.list({ ...(state ? { state } : {}), approver: name, limit })))).flat();
    mine.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
    return mine.slice(0, limit);
  }

  async resolve(p: RpcParams["approval-resolve"], who: Principal): Promise<Approval> {
    requireRole("approval-resolve", who);
    const { id } = p;
    resolvableApproval(await this.approvals.get(id), id, who);
    const input = { by: who.identity, ...(typeof p.note === "string" ? { note: p.note } : {}) };
    return p.verb === "approve" ? this.approvals.approve(id, input) : this.approvals.deny(id, input);
  }

  /**
   * Redeems an approval (POST /v1/decide with approval_id): one store transaction claims it
   * (exactly one of racing redemptions wins), then its record is written (Recorder#redeem). An
   * agent redeems as itself: the worker bound agent.id to the token; so does this.
   */
  redeem(p: RpcParams["approval-redeem"], who: Principal): Promise<Redeemed> {
    requireRole("approval-redeem", who);
    return this.recorder.redeem({ ...p, agent: who.role === "agent" ? who.identity : p.agent });
  }

  /** The number of pending approvals, or null once the store is closed (or cannot be read). */
  async pendingCount(): Promise<number | null> {
    try {
      return await this.approvals.pendingCount();
    } catch {
      return null; // closed
    }
  }

  /** Shutting down: long polls answer now with the approval as it is, and new ones at once. */
  stop(): void {
    this.stopping = true;
    this.waits.abort(new Error("shutting down"));
  }

  async close(): Promise<void> {
    try {
      await this.approvals.close();
    } catch (err) {
      this.logger.error("closing approvals failed", { detail: (err as Error).message });
    }
  }
}
