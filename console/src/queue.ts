// The console's model of the approvals it shows, kept apart from the view so that it can be
// tested on its own (test/console/queue.test.ts): the approval record as the API sends it, the
// merge of snapshots and events, and the durations shown.

export type ApprovalState = "pending" | "approved" | "denied" | "expired";

/** The fields of an approval the console uses (docs/approvals.md; the API sends them all). */
export interface Approval {
  id: string;
  state: ApprovalState;
  approver: string;
  rule: string | null;
  policy: string;
  policy_hash: string;
  action: unknown;
  decision: { reason?: string | null; [k: string]: unknown };
  decision_seq: number;
  decision_hash: string;
  on_timeout: "allow" | "deny";
  created: string;
  expires: string;
  outcome: "allow" | "deny" | null;
  resolved_by: string | null;
  note: string | null;
  resolved_at: string | null;
  resolution_seq: number | null;
  resolution_hash: string | null;
  agent?: string | null;
  redeemed_at?: string | null;
  redemption_seq?: number | null;
  redemption_hash?: string | null;
}

export interface Who {
  identity: string;
  role: "agent" | "approver" | "admin";
  approvers: string[];
}

export interface Snapshot {
  now: string;
  pending: Approval[];
  history: Approval[];
  who: Who;
}

export interface ApprovalEvent {
  type: "created" | "resolved";
  approval: Approval;
}

/**
 * How far an approval has come: pending, resolved, resolved with its audit record, redeemed.
 * An approval only moves forward, so of two versions the one further on is the newer; the
 * stream may send a version older than one already shown (an event sent while the snapshot was
 * read), and it must not move the approval back.
 */
export function progress(a: Approval): number {
  if (a.state === "pending") return 0;
  if (a.redemption_seq != null) return 3;
  return a.resolution_seq == null ? 1 : 2;
}

export type Approvals = ReadonlyMap<string, Approval>;

/** `known` with `a` in it, unless `known` already has a version at least as far on. */
export function merge(known: Approvals, a: Approval): Approvals {
  const had = known.get(a.id);
  if (had !== undefined && progress(had) > progress(a)) return known;
  const next = new Map(known);
  next.set(a.id, a);
  return next;
}

/** A snapshot replaces what was known (it is the truth when the stream starts); resolved ones already shown stay in the history. */
export function fromSnapshot(known: Approvals, s: Snapshot): Approvals {
  let next: Approvals = new Map([...known].filter(([, a]) => a.state !== "pending"));
  for (const a of s.history) next = merge(next, a);
  for (const a of s.pending) next = merge(next, a);
  return next;
}

/** Pending approvals, the first to expire first. */
export function pendingOf(all: Approvals): Approval[] {
  return [...all.values()].filter((a) => a.state === "pending").sort((a, b) => cmp(a.expires, b.expires) || cmp(a.id, b.id));
}

/** Resolved approvals, the most recently resolved first. */
export function historyOf(all: Approvals, limit = 100): Approval[] {
  return [...all.values()]
    .filter((a) => a.state !== "pending")
    .sort((a, b) => cmp(b.resolved_at ?? "", a.resolved_at ?? "") || cmp(a.id, b.id))
    .slice(0, limit);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** "4s", "2m 05s", "1h 03m", "2d 04h": a duration in ms, the two largest units. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${String(h % 24).padStart(2, "0")}h`;
}

/** "12:04" style countdown: m:ss under an hour, else h:mm:ss. */
export function countdown(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** The tool of an approval's action, if it names one. */
export function toolOf(a: Approval): string {
  const t = (a.action as { tool?: unknown } | null)?.tool;
  return typeof t === "string" ? t : "(no tool)";
}

/** The agent the approval was issued to: its `agent`, else the action's agent.id. */
export function agentOf(a: Approval): string {
  if (typeof a.agent === "string" && a.agent !== "") return a.agent;
  const id = (a.action as { agent?: { id?: unknown } } | null)?.agent?.id;
  return typeof id === "string" ? id : "(unknown agent)";
}
