// The primary's audit log: the one writer (one hash chain whatever the number of workers). It
// runs the record half of the pipeline (src/pipeline/record.ts) for the Decided the workers send,
// acknowledges them once durable, and tracks the log's health: once a write or sync has failed
// the workers are told (decisions and approve/deny answer 503, /readyz is not ready).

import type { Worker } from "node:cluster";
import { AuditLog } from "../audit/log.js";
import { AuditError } from "../audit/recover.js";
import { Recorder } from "../pipeline/record.js";
import type { GateMetrics } from "../metrics/metrics.js";
import type { Decided } from "../pipeline/message.js";
import type { CounterAuthority } from "./counter-owner.js";
import type { ServerConfig } from "./config.js";
import type { ToPrimary, ToWorker } from "./ipc.js";
import type { Log } from "./log.js";
import { broadcast, sendTo } from "./workers.js";

/** Errors of the file system that mean the disk cannot take what is written. */
const WRITE_ERRORS = new Set(["ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EIO"]);

/**
 * An error met while opening the audit log or the approvals database at start, as a sentence
 * for the operator (`tollgate serve` prints an AuditError's message and exits non-zero): the
 * log's own errors (a damaged log) as they are; a system error as `cannot write the audit log in
 * DIR: no space left on device (ENOSPC)` rather than a stack trace.
 */
export function startupError(err: unknown, what: string, where: string): Error {
  if (err instanceof AuditError) return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : undefined;
  const message = typeof e?.message === "string" ? e.message : String(err);
  // Node: "ENOSPC: no space left on device, write"; SQLite: "database or disk is full".
  const text = code !== undefined && message.startsWith(`${code}: `) ? message.slice(code.length + 2).replace(/, \w+(?: '.*')?$/, "") : message;
  const verb = code !== undefined && (WRITE_ERRORS.has(code) || code === "SQLITE_FULL" || code.startsWith("SQLITE_IOERR")) ? "write" : "open";
  return new AuditError(`cannot ${verb} ${what} in ${where}: ${text}${code !== undefined ? ` (${code})` : ""}`);
}

export class AuditOwner {
  /**
   * Once a write or sync of the audit log has failed (disk full, I/O error), the log refuses
   * every append for good: decisions answer 503, approvals cannot be resolved (they stay
   * pending), and /readyz says not ready, until the server is restarted.
   */
  failure: Error | null = null;
  readonly recorder: Recorder;
  /** The counters' owner, for a policy with counters (commits are checked before recording). */
  counters: CounterAuthority | null = null;
  private probeTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  private constructor(
    readonly log: AuditLog,
    private readonly logger: Log,
    metrics: GateMetrics,
  ) {
    this.recorder = new Recorder(log, { metrics, onAuditFailure: (err) => this.noteFailure(err) });
  }

  /** Opens the log (recovering it, docs/audit.md); a log that cannot be opened is a startupError. */
  static async open(config: ServerConfig, logger: Log, metrics: GateMetrics): Promise<AuditOwner> {
    let log: AuditLog;
    try {
      log = await AuditLog.open(config.auditDir, {
        // A batch starts at the end of the event-loop turn that brought its first record (so that
        // the records of all the IPC messages read in one turn share an fdatasync) rather than after
        // a timer: every decision waits for its record, and a timer would add its delay to each.
        // Records arriving during a write+fdatasync go in the next batch.
        batchWindowMs: 0,
        witness: config.auditWitness,
        onWarning: (w) => logger.warn("audit warning", { code: w.code, detail: w.message }),
      });
    } catch (err) {
      throw startupError(err, "the audit log", config.auditDir);
    }
    return new AuditOwner(log, logger, metrics);
  }

  /**
   * A failure found by the log itself while idle (a checkpoint that cannot be written) shows at
   * the next append; looking every second makes /readyz say so without waiting for one.
   */
  startProbe(): void {
    this.probeTimer = setInterval(() => void this.recorder.probe(), 1000);
    this.probeTimer.unref();
  }

  /** The `state` message of a server whose log has failed. */
  downMessage(): ToWorker {
    return {
      t: "state",
      ready: false,
      code: "audit_unavailable",
      reason: `the audit log cannot be written (${this.failure?.message ?? "failed"}); decisions and approvals answer 503 until the server is restarted`,
    };
  }

  /** A worker became ready: if the log has failed already, it is told at once. */
  onWorkerReady(w: Worker): void {
    if (this.failure !== null) sendTo(w, this.downMessage());
  }

  /**
   * Records a worker's message (the Decided of one of its event-loop turns): acknowledged as
   * soon as the records are durable (the hashes as one string, 64 hex digits each), so that the
   * decisions that are not escalations do not wait for the approvals' SQLite commit; the
   * approval ids follow in a second message.
   */
  onAudit(w: Worker, msg: Extract<ToPrimary, { t: "audit" }>): void {
    // Counters: each commit is checked and counted, in order, before anything is appended; a
    // Decided whose sums changed is not recorded (the worker decides it again).
    const counters = this.counters;
    if (counters === null || !msg.e.some((e) => e[5] !== undefined)) {
      this.append(w, msg, msg.e, null, undefined);
      return;
    }
    const verdicts = counters.commitAll(msg.e.map((e) => e[5]));
    if (Array.isArray(verdicts)) this.afterCommits(w, msg, verdicts);
    else {
      verdicts.then(
        (v) => this.afterCommits(w, msg, v),
        (err: Error) => sendTo(w, { t: "audit", id: msg.id, err: `the counter state cannot be updated: ${err.message}` }),
      );
    }
  }

  private afterCommits(w: Worker, msg: Extract<ToPrimary, { t: "audit" }>, verdicts: readonly (true | number[])[]): void {
    const kept: Decided[] = [];
    const at: number[] = [];
    const conflicts: number[] = [];
    for (let i = 0; i < msg.e.length; i++) {
      if (verdicts[i] !== true) {
        conflicts.push(i);
        continue;
      }
      kept.push(msg.e[i]!);
      at.push(i);
    }
    this.append(w, msg, kept, at, conflicts);
  }

  /** Appends `entries` (message indices `at`, null: all of them) and acknowledges the message. */
  private append(w: Worker, msg: Extract<ToPrimary, { t: "audit" }>, entries: Decided[], at: number[] | null, conflicts: number[] | undefined): void {
    const counters = this.counters;
    if (entries.length === 0) {
      sendTo(w, { t: "audit", id: msg.id, s: 0, h: "", x: [], c: conflicts });
      return;
    }
    this.recorder.record(entries).then(
      ({ seq, hashes, escalations, approvals }) => {
        if (counters !== null) {
          for (let i = 0; i < entries.length; i++) {
            const c = entries[i]![5];
            if (c !== undefined) counters.recorded(hashes[i]!, c);
          }
        }
        const x = at === null ? escalations : escalations.map((k) => at[k]!);
        sendTo(w, { t: "audit", id: msg.id, s: seq, h: hashes.join(""), x, c: conflicts });
        if (approvals === null) return;
        void approvals.then((created) => {
          const ap = created.map((a, k) => {
            if (!(a instanceof Error)) return a.id;
            this.logger.error("could not open an approval", { detail: a.message, seq: seq + escalations[k]! });
            return null;
          });
          sendTo(w, { t: "approvals", id: msg.id, ap });
        });
      },
      (err: Error) => sendTo(w, { t: "audit", id: msg.id, err: err.message }),
    );
  }

  /** Shutting down: no more probes, and a failure from now on is not announced. */
  stop(): void {
    this.stopping = true;
    clearInterval(this.probeTimer);
  }

  /** Flushes the log and signs its final checkpoint; false if that failed (logged). */
  async close(): Promise<boolean> {
    await this.counters?.close().catch((err: Error) => this.logger.warn("closing the counter state failed", { detail: err.message }));
    try {
      await this.log.close(); // flush + final signed checkpoint
      this.logger.info("audit log closed", { last_seq: this.log.lastSeq });
      return true;
    } catch (err) {
      this.logger.error("closing the audit log failed", { detail: (err as Error).message });
      return false;
    }
  }

  private noteFailure(err: AuditError): void {
    if (this.failure !== null || this.stopping) return;
    this.failure = err;
    this.logger.error("the audit log failed: decisions and approvals answer 503 and /readyz is not ready until the server is restarted", { detail: err.message });
    broadcast(this.downMessage());
  }
}
