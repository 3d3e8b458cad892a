// SIGTERM / SIGINT in the primary: stop what starts new work (reloads, worker replacement, the
// audit probe, long polls), let every worker drain (it answers its in-flight requests and waits
// for their audit acknowledgements), kill stragglers after `shutdown-timeout`, then close the
// approvals store and the audit log (final flush and signed checkpoint).

import type { ApprovalsOwner } from "./approvals-owner.js";
import type { AuditOwner } from "./audit-owner.js";
import type { ServerConfig } from "./config.js";
import type { Log } from "./log.js";
import type { PolicySync } from "./policy-sync.js";
import type { ShadowSync } from "./shadow-sync.js";
import { allWorkers, sendTo } from "./workers.js";
import type { Workers } from "./workers.js";

export interface ShutdownParts {
  workers: Workers;
  policy: PolicySync;
  shadow: ShadowSync;
  audit: AuditOwner;
  approvals: ApprovalsOwner;
}

export class Shutdown {
  /** Resolves with the exit code once the server has shut down: 0, or 1 if workers had to be killed or the log could not be closed. */
  readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;
  private started = false;

  constructor(
    private readonly config: ServerConfig,
    private readonly log: Log,
    private readonly parts: ShutdownParts,
  ) {
    this.done = new Promise<number>((r) => (this.resolveDone = r));
  }

  /** Shuts down once (later calls do nothing). */
  async run(signal: string): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { workers, policy, shadow, audit, approvals } = this.parts;
    let exitCode = 0;
    workers.stop();
    audit.stop();
    this.log.info("shutting down", { signal });
    policy.stop();
    shadow.stopAccepting();
    approvals.stop();
    const all = allWorkers();
    const exited = Promise.all(all.map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) return resolve();
      w.once("exit", () => resolve());
    })));
    for (const w of all) sendTo(w, { t: "shutdown" });
    const timer = setTimeout(() => {
      this.log.error("workers did not finish in time; killing them", { timeout_ms: this.config.shutdownTimeoutMs });
      exitCode = 1;
      for (const w of all) if (!w.isDead()) w.process.kill("SIGKILL");
    }, this.config.shutdownTimeoutMs);
    await exited;
    clearTimeout(timer);
    await policy.close();
    await shadow.close();
    await approvals.close();
    if (!(await audit.close())) exitCode = 1;
    this.resolveDone(exitCode);
  }
}
