// The comparison: every replayed action's old outcome (recorded, or the current policy's) beside
// the candidate's, tallied as (old decision, old rule) → (new decision, new rule) with counts and
// the first few examples of each change; what could not be replayed exactly (redacted paths the
// policies read) or at all (skipped), and why.

import type { Outcome, Place } from "./sources.js";

export interface PolicyRef {
  name: string;
  hash: string;
  file: string;
}

export interface Example {
  source: string;
  file: string;
  line: number;
  seq?: number;
  /** The action, abbreviated (compact JSON, cut at EXAMPLE_CHARS). */
  action: string;
  /** Paths the record holds redacted and a policy reads: this example may not be exact. */
  redacted?: string[];
}

export interface Change {
  from: Outcome;
  to: Outcome;
  count: number;
  /** Of `count`, the records with redacted paths a policy reads. */
  inexact: number;
  examples: Example[];
}

export interface SourceSummary {
  source: string;
  kind: "audit" | "actions";
  /** Actions replayed (decided under both sides). */
  actions: number;
  changed: number;
  /** Approval transitions applied to the escalations they settle. */
  transitions: number;
  /** Audit events (recover, seal): not decisions. */
  events: number;
  skipped: number;
  /** The recorded policies (audit directories), by name and hash, with their record counts. */
  recordedPolicies: { name: string; hash: string; records: number }[];
}

export interface ReplayResult {
  candidate: PolicyRef;
  /** The policy the old outcomes come from; null: the decisions recorded in the audit log. */
  against: PolicyRef | null;
  totals: {
    actions: number;
    changed: number;
    unchanged: number;
    transitions: number;
    events: number;
    skipped: number;
    /** Decisions by effect, before and after. */
    before: Record<Outcome["decision"], number>;
    after: Record<Outcome["decision"], number>;
  };
  /** Most frequent first. */
  changes: Change[];
  /** Records with a redacted value at a path the candidate (or --against) reads. */
  redacted: { records: number; changed: number; paths: { path: string; records: number }[] };
  skipped: { reason: string; count: number; examples: { source: string; file: string; line: number; seq?: number }[] }[];
  sources: SourceSummary[];
  notes: string[];
}

export const EXAMPLE_CHARS = 160;

/** Compact JSON of an action, `tool` first (a record's keys are sorted), cut to `max` characters
 *  with an ellipsis. */
export function abbreviate(action: unknown, max = EXAMPLE_CHARS): string {
  let text: string;
  try {
    const a = action as Record<string, unknown> | null;
    const toolFirst = a !== null && typeof a === "object" && !Array.isArray(a) && Object.prototype.hasOwnProperty.call(a, "tool") ? { tool: a.tool, ...a } : action;
    text = JSON.stringify(toolFirst) ?? String(action);
  } catch {
    text = String(action);
  }
  return text.length <= max ? text : text.slice(0, max - 1) + "…";
}

const outcomeKey = (o: Outcome): string => `${o.decision}\u0000${o.rule ?? ""}\u0000${o.rule === null ? 0 : 1}`;

export class Comparison {
  private readonly changes = new Map<string, Change>();
  private readonly skipped = new Map<string, ReplayResult["skipped"][number]>();
  private readonly redactedPaths: number[];
  private redactedRecords = 0;
  private redactedChanged = 0;
  private readonly totals: ReplayResult["totals"] = {
    actions: 0,
    changed: 0,
    unchanged: 0,
    transitions: 0,
    events: 0,
    skipped: 0,
    before: { allow: 0, deny: 0, escalate: 0 },
    after: { allow: 0, deny: 0, escalate: 0 },
  };
  private readonly sources: SourceSummary[] = [];
  private current: SourceSummary | null = null;
  private policies = new Map<string, { name: string; hash: string; records: number }>();
  readonly notes: string[] = [];

  constructor(
    private readonly pathTexts: readonly string[],
    private readonly examplesPerChange = 3,
  ) {
    this.redactedPaths = pathTexts.map(() => 0);
  }

  startSource(source: string, kind: "audit" | "actions"): void {
    this.policies = new Map();
    this.current = { source, kind, actions: 0, changed: 0, transitions: 0, events: 0, skipped: 0, recordedPolicies: [] };
    this.sources.push(this.current);
  }

  endSource(): void {
    if (this.current !== null) this.current.recordedPolicies = [...this.policies.values()];
  }

  /** One action: `old` and `now` its outcomes, `redacted` the indexes of the redacted paths read. */
  action(at: Place, action: unknown, old: Outcome, now: Outcome, redacted: readonly number[] | null, recordedPolicy: string, recordedHash: string): void {
    const t = this.totals;
    const src = this.current!;
    t.actions++;
    src.actions++;
    t.before[old.decision]++;
    t.after[now.decision]++;
    if (recordedPolicy !== "") {
      const k = `${recordedPolicy}\u0000${recordedHash}`;
      const p = this.policies.get(k);
      if (p === undefined) this.policies.set(k, { name: recordedPolicy, hash: recordedHash, records: 1 });
      else p.records++;
    }
    const inexact = redacted !== null && redacted.length > 0;
    if (inexact) {
      this.redactedRecords++;
      for (const i of redacted) this.redactedPaths[i]!++;
    }
    if (old.decision === now.decision && old.rule === now.rule) {
      t.unchanged++;
      return;
    }
    t.changed++;
    src.changed++;
    if (inexact) this.redactedChanged++;
    const key = outcomeKey(old) + "\u0001" + outcomeKey(now);
    let c = this.changes.get(key);
    if (c === undefined) this.changes.set(key, (c = { from: old, to: now, count: 0, inexact: 0, examples: [] }));
    c.count++;
    if (inexact) c.inexact++;
    if (c.examples.length < this.examplesPerChange) {
      const e: Example = { source: at.source, file: at.file, line: at.line, action: abbreviate(action) };
      if (at.seq !== undefined) e.seq = at.seq;
      if (inexact) e.redacted = redacted.map((i) => this.pathTexts[i]!);
      c.examples.push(e);
    }
  }

  transition(): void {
    this.totals.transitions++;
    this.current!.transitions++;
  }

  event(): void {
    this.totals.events++;
    this.current!.events++;
  }

  skip(at: Place, reason: string): void {
    this.totals.skipped++;
    this.current!.skipped++;
    let s = this.skipped.get(reason);
    if (s === undefined) this.skipped.set(reason, (s = { reason, count: 0, examples: [] }));
    s.count++;
    if (s.examples.length < this.examplesPerChange) {
      const e: { source: string; file: string; line: number; seq?: number } = { source: at.source, file: at.file, line: at.line };
      if (at.seq !== undefined) e.seq = at.seq;
      s.examples.push(e);
    }
  }

  result(candidate: PolicyRef, against: PolicyRef | null): ReplayResult {
    const changes = [...this.changes.values()].sort((a, b) => b.count - a.count || outcomeKey(a.from).localeCompare(outcomeKey(b.from)) || outcomeKey(a.to).localeCompare(outcomeKey(b.to)));
    const paths = this.pathTexts.map((path, i) => ({ path, records: this.redactedPaths[i]! })).filter((p) => p.records > 0).sort((a, b) => b.records - a.records || a.path.localeCompare(b.path));
    return {
      candidate,
      against,
      totals: this.totals,
      changes,
      redacted: { records: this.redactedRecords, changed: this.redactedChanged, paths },
      skipped: [...this.skipped.values()].sort((a, b) => b.count - a.count),
      sources: this.sources,
      notes: this.notes,
    };
  }
}
