// The store's side of the approvals stream (GET /v1/approvals/stream, docs/approvals.md, "The
// console"): the single-use stream tickets and the snapshot a stream starts with (ApprovalFeed,
// in the primary, or in `tollgate approvals console`), and the primary's fan-out of the approvals
// manager's events to the workers that have streams open (StreamWorkers). Which events a
// stream's caller may see is decided where the stream is (stream.ts, access.ts mayResolve).

import { createHash, randomBytes } from "node:crypto";
import type { Worker } from "node:cluster";
import type { Approval, ApprovalState } from "../approvals/approval.js";
import type { Approvals } from "../approvals/approvals.js";
import type { ApprovalFilter } from "../approvals/store.js";
import type { SharedTickets } from "../approvals/store-api.js";
import { listableApprovers, requireRole } from "./access.js";
import { RpcError } from "./ipc.js";
import type { ApprovalSnapshot, RedeemedTicket, RpcParams, StreamTicket } from "./ipc.js";
import type { Principal } from "./tokens.js";
import { sendTo } from "./workers.js";

/** How long a stream ticket may wait to be used. */
export const TICKET_TTL_MS = 30_000;
/** Tickets outstanding at once (issued, not used, not expired), per process or per shared store. */
const MAX_TICKETS = 10_000;
/** Pending approvals a snapshot holds at most. */
const MAX_PENDING = 1000;
const RESOLVED: readonly ApprovalState[] = ["approved", "denied", "expired"];

/** The approvals manager's events, to the workers that have streams open (in the primary). */
export class StreamWorkers {
  private readonly streaming = new Set<Worker>();
  private readonly unsubscribe: () => void;

  constructor(approvals: Pick<Approvals, "subscribe">) {
    this.unsubscribe = approvals.subscribe((e) => {
      for (const w of this.streaming) sendTo(w, { t: "approval-event", e });
    });
  }

  /** A worker opened its first stream (on) or closed its last (off), or exited (off). */
  set(w: Worker, on: boolean): void {
    if (on) this.streaming.add(w);
    else this.streaming.delete(w);
  }

  close(): void {
    this.unsubscribe();
    this.streaming.clear();
  }
}

/** What the feed reads (a store that answers later is `await`ed). */
type Source = { list(filter?: ApprovalFilter): Approval[] | Promise<Approval[]> };

export class ApprovalFeed {
  private readonly tickets = new Map<string, { who: Principal; token_hash: string | null; expires: number }>();

  /**
   * `shared`: where tickets live when several instances share the store (PostgreSQL), so that a
   * ticket from one instance opens a stream on another; else in this process's memory.
   */
  constructor(
    private readonly approvals: Source,
    private readonly now: () => number = Date.now,
    private readonly shared: SharedTickets | null = null,
    private readonly maxTickets: number = MAX_TICKETS,
  ) {}

  /** POST /v1/approvals/stream/ticket: a random single-use ticket, valid TICKET_TTL_MS. */
  ticket(p: RpcParams["approval-ticket"], who: Principal): StreamTicket | Promise<StreamTicket> {
    requireRole("approval-ticket", who);
    const now = this.now();
    const ticket = randomBytes(32).toString("base64url");
    const answer: StreamTicket = { ticket, expires_in_ms: TICKET_TTL_MS, now: new Date(now).toISOString() };
    const tooMany = () => new RpcError(429, "too_many_requests", `more than ${this.maxTickets} stream tickets are waiting to be used; try again in a few seconds`);
    if (this.shared !== null) {
      return this.shared.putTicket(ticketHash(ticket), JSON.stringify({ who, token_hash: p.token_hash }), now + TICKET_TTL_MS, now, this.maxTickets).then((stored) => {
        if (!stored) throw tooMany();
        return answer;
      });
    }
    for (const [t, v] of this.tickets) {
      if (v.expires > now) break; // issued in order, so expiring in order
      this.tickets.delete(t);
    }
    if (this.tickets.size >= this.maxTickets) throw tooMany();
    this.tickets.set(ticket, { who, token_hash: p.token_hash, expires: now + TICKET_TTL_MS });
    return answer;
  }

  /** GET /v1/approvals/stream?ticket=: the ticket's principal; the ticket is used up. 401 if unknown, used or expired. */
  redeem(p: RpcParams["approval-ticket-redeem"]): RedeemedTicket | Promise<RedeemedTicket> {
    const refused = () => new RpcError(401, "unauthorized", "unknown, used or expired stream ticket (get a new one: POST /v1/approvals/stream/ticket)");
    if (this.shared !== null) {
      return this.shared.takeTicket(ticketHash(p.ticket), this.now()).then((data) => {
        if (data === null) throw refused();
        return JSON.parse(data) as RedeemedTicket;
      });
    }
    const t = this.tickets.get(p.ticket);
    this.tickets.delete(p.ticket);
    if (t === undefined || t.expires <= this.now()) throw refused();
    return { who: t.who, token_hash: t.token_hash };
  }

  /**
   * What a stream starts with: every pending approval `who` may resolve (oldest first, up to
   * 1000) and the `history` most recently resolved ones. Events sent while it is read may or may
   * not be in it: the worker sends them after it, and an approval only moves forward (pending,
   * then resolved, then audited), so the most advanced version of each is the true one.
   */
  async snapshot(p: RpcParams["approval-snapshot"], who: Principal): Promise<ApprovalSnapshot> {
    requireRole("approval-snapshot", who);
    const scope = listableApprovers(who, undefined);
    const query = async (filter: ApprovalFilter): Promise<Approval[]> =>
      scope === "all"
        ? await this.approvals.list(filter)
        : (await Promise.all(scope.map(async (approver) => await this.approvals.list({ ...filter, approver })))).flat();
    const now = new Date(this.now()).toISOString();
    const pending = (await query({ state: "pending", limit: MAX_PENDING })).sort((a, b) => cmp(a.created, b.created) || cmp(a.id, b.id)).slice(0, MAX_PENDING);
    const n = Math.max(0, Math.min(500, Math.floor(p.history)));
    const resolved = n === 0 ? [] : (await Promise.all(RESOLVED.map((state) => query({ state, limit: n })))).flat();
    const history = resolved.sort((a, b) => cmp(b.resolved_at ?? "", a.resolved_at ?? "") || cmp(a.id, b.id)).slice(0, n);
    return { now, pending, history };
  }

  close(): void {
    this.tickets.clear();
  }
}

/** A ticket as stored where instances share it: its SHA-256, never the ticket itself. */
function ticketHash(ticket: string): string {
  return createHash("sha256").update(ticket).digest("hex");
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
