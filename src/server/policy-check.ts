// Validating a policy off the primary's event loop. Loading a large policy takes the engine a
// while (about a second for 3,000 rules on the benchmark machine; 3.35 s was seen): done in the
// primary, it stopped every decision for that long, since each waits for the primary to write
// its audit record. A worker thread loads it instead — the same `Policy.fromYaml`, so the same
// `FILE:LINE:COL: error: ...` problems — and the primary only gets the summary or the problems.

import { Worker } from "node:worker_threads";
import { PolicyError } from "../errors.js";
import type { PolicyProblem } from "../errors.js";
import { Policy } from "../policy.js";

/** What the primary keeps of a policy: the workers compile their own. */
export interface PolicySummary {
  name: string;
  hash: string;
  rules: number;
  /** Its counters: the primary owns their state (counter-owner.ts). */
  counters: { name: string; windowMs: number; definition: string; digest: string }[];
}

export interface CheckRequest {
  id: number;
  yaml: string;
  filename: string;
}

export type CheckReply =
  | { id: number; ok: true; summary: PolicySummary }
  /** `problems`: a PolicyError's; `message`: anything else the engine threw. */
  | { id: number; ok: false; problems?: PolicyProblem[]; message?: string };

export function summaryOf(p: Policy): PolicySummary {
  return {
    name: p.name,
    hash: p.hash,
    rules: p.rules.length,
    counters: p.counters.map((c) => ({ name: c.name, windowMs: c.windowMs, definition: c.definition, digest: c.digest })),
  };
}

/**
 * One worker thread, started on first use and kept (unref'd: it does not hold the process
 * open); a thread that fails is replaced on the next check. If no thread can run the check,
 * it is made in this thread (as before) rather than refused.
 */
export class PolicyChecker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (s: PolicySummary) => void; reject: (e: Error) => void; req: CheckRequest }>();

  constructor(private readonly onWarning: (message: string) => void = () => undefined) {}

  /** The policy's summary; rejects with the PolicyError `Policy.fromYaml` would throw. */
  check(yaml: string, filename: string): Promise<PolicySummary> {
    const req: CheckRequest = { id: this.nextId++, yaml, filename };
    return new Promise<PolicySummary>((resolve, reject) => {
      let w: Worker;
      try {
        w = this.thread();
      } catch (err) {
        this.onWarning(`cannot start the policy validation thread (${(err as Error).message}); validating in the primary`);
        this.inline(req, resolve, reject);
        return;
      }
      this.pending.set(req.id, { resolve, reject, req });
      w.ref(); // while a check is under way
      w.postMessage(req);
    });
  }

  /** Stops the thread; checks under way are made in this thread instead. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL("./policy-thread.js", import.meta.url));
    w.unref();
    w.on("message", (r: CheckReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (this.pending.size === 0) w.unref();
      if (r.ok) p.resolve(r.summary);
      else if (r.problems && r.problems.length > 0) p.reject(new PolicyError(r.problems));
      else p.reject(new Error(r.message ?? "the policy could not be loaded"));
    });
    const lost = (why: string) => {
      if (this.worker === w) this.worker = null;
      const left = [...this.pending.values()];
      this.pending.clear();
      if (left.length > 0) this.onWarning(`the policy validation thread ${why}; validating in the primary`);
      for (const p of left) this.inline(p.req, p.resolve, p.reject);
    };
    w.on("error", (err) => lost(`failed (${err.message})`));
    w.on("exit", (code) => lost(`exited (code ${code})`));
    this.worker = w;
    return w;
  }

  private inline(req: CheckRequest, resolve: (s: PolicySummary) => void, reject: (e: Error) => void): void {
    try {
      resolve(summaryOf(Policy.fromYaml(req.yaml, { filename: req.filename })));
    } catch (err) {
      reject(err as Error);
    }
  }
}
