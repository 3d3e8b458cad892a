// The primary's policy: the source of truth (the file, or the last PUT), validated off the event
// loop (policy-check.ts) and installed in every worker, one at a time; reloads are serialized.
// Sources: PUT /v1/policy, SIGHUP, and the file changing (fs.watch on its directory, debounced).
// With --persist-policy a PUT policy is written to the file first (atomically), so the next reload
// from the file serves it again instead of silently going back to the file's.

import { readPolicyFile } from "../policy-text.js";
import type { Worker } from "node:cluster";
import { watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { replaceFile } from "../audit/fsutil.js";
import { PolicyError } from "../errors.js";
import { Policy } from "../policy.js";
import { requireRole } from "./access.js";
import type { ServerConfig } from "./config.js";
import { RpcError } from "./ipc.js";
import type { RpcParams, ToPrimary, ToWorker } from "./ipc.js";
import type { Log } from "./log.js";
import { PolicyChecker, summaryOf } from "./policy-check.js";
import type { PolicySummary } from "./policy-check.js";
import type { Principal } from "./tokens.js";
import { WorkerRollout } from "./worker-rollout.js";

interface Current {
  /** The workers compile the policy; the primary keeps its name, hash and size. */
  policy: PolicySummary;
  yaml: string;
  filename: string;
}

export interface Installed {
  policy: string;
  policy_hash: string;
  changed: boolean;
}

export class PolicySync {
  private current: Current;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private readonly rollout = new WorkerRollout();
  // Validation runs in a worker thread: a large policy takes the engine seconds to load, and
  // the primary's event loop must keep writing the audit records every decision waits for.
  private readonly checker: PolicyChecker;
  private watcher: FSWatcher | null = null;
  private stopping = false;

  /** Reads and validates the policy file (at start, before any worker: a bad one throws). */
  constructor(
    private readonly config: ServerConfig,
    private readonly log: Log,
  ) {
    const yaml = readPolicyFile(config.policy);
    this.current = { policy: summaryOf(Policy.fromYaml(yaml, { filename: config.policy })), yaml, filename: config.policy };
    this.checker = new PolicyChecker((message) => log.warn(message));
  }

  /** Called when a new policy starts being installed (the counters' owner retains its state). */
  onInstall: ((policy: PolicySummary) => void) | null = null;

  /** The policy being served. */
  get policy(): PolicySummary {
    return this.current.policy;
  }

  /** The `config-policy` message a new worker starts with. */
  startMessage(): ToWorker {
    return { t: "config-policy", yaml: this.current.yaml, filename: this.current.filename, hash: this.current.policy.hash };
  }

  /** Watches the policy file (if configured) and reloads it when it changes. */
  watch(): void {
    if (!this.config.watch) return;
    let timer: NodeJS.Timeout | undefined;
    const name = basename(this.config.policy);
    try {
      // The directory, not the file: editors replace files by renaming.
      this.watcher = watch(dirname(this.config.policy), (_event, file) => {
        if (file !== null && file !== name) return;
        clearTimeout(timer);
        timer = setTimeout(() => this.reloadFromFile("file change"), 200);
      });
      this.watcher.unref();
    } catch (err) {
      this.log.warn("cannot watch the policy file; reload with SIGHUP or PUT /v1/policy", { detail: (err as Error).message });
    }
  }

  /** PUT /v1/policy (admins). Throws PolicyError (422): the old policy keeps serving. */
  put(p: RpcParams["put-policy"], who: Principal): Promise<Installed> {
    requireRole("put-policy", who);
    if (this.stopping) throw new RpcError(503, "unavailable", "shutting down");
    return this.install(p.yaml, "<PUT /v1/policy>", `PUT by ${who.identity}`, this.config.persistPolicy);
  }

  /** Re-reads the policy file (SIGHUP, file change); a bad one is logged and changes nothing. */
  reloadFromFile(source: string): void {
    if (this.stopping) return;
    let yaml: string;
    try {
      yaml = readPolicyFile(this.config.policy);
    } catch (err) {
      this.log.error("policy reload failed: cannot read the file; the old policy keeps serving", { source, file: this.config.policy, detail: err instanceof PolicyError ? err.format() : (err as Error).message });
      return;
    }
    this.install(yaml, this.config.policy, source).catch((err) => {
      this.log.error("policy reload failed; the old policy keeps serving", { source, errors: err instanceof PolicyError ? err.format() : String(err) });
    });
  }

  /** A worker's answer to a `policy` message. */
  onLoaded(w: Worker, msg: Extract<ToPrimary, { t: "policy-loaded" }>): void {
    this.rollout.onAnswer(w, msg.id, msg.error);
  }

  /** Shutting down: no more reloads or PUTs, no more watching. */
  stop(): void {
    this.stopping = true;
    this.watcher?.close();
  }

  /** Stops the validation thread. */
  async close(): Promise<void> {
    await this.checker.close().catch(() => undefined);
  }

  /** Validates and installs a policy in every worker; serialized. Throws PolicyError. */
  private install(yaml: string, filename: string, source: string, persist = false): Promise<Installed> {
    const run = async (): Promise<Installed> => {
      const policy = await this.checker.check(yaml, filename); // throws PolicyError: the old one keeps serving
      // Written before it is served: a PUT that cannot be persisted fails and changes nothing.
      if (persist && yaml !== this.current.yaml) await this.persist(yaml);
      if (policy.hash === this.current.policy.hash) return { policy: policy.name, policy_hash: policy.hash, changed: false };
      const previous = this.current;
      this.current = { policy, yaml, filename };
      this.onInstall?.(policy);
      const errors = await this.rollout.toEach((id) => ({ t: "policy", id, yaml, filename, hash: policy.hash }));
      this.log.info("policy loaded", { source, policy: policy.name, policy_hash: policy.hash, previous_hash: previous.policy.hash, rules: policy.rules });
      if (errors.length > 0) this.log.error("a worker could not load the policy", { errors });
      return { policy: policy.name, policy_hash: policy.hash, changed: true };
    };
    const p = this.reloadChain.then(run, run);
    this.reloadChain = p.catch(() => undefined);
    return p;
  }

  /**
   * Replaces the policy file with `yaml` atomically (replaceFile: a temporary file beside it,
   * fsync, rename, fsync of the directory; off the event loop, which keeps writing the audit
   * records decisions wait for). A reader or a crash sees the old file or the new one. Its own
   * change event then reloads the same policy: nothing changes.
   */
  private async persist(yaml: string): Promise<void> {
    const file = this.config.policy;
    try {
      await replaceFile(file, yaml);
    } catch (err) {
      this.log.error("PUT /v1/policy: cannot write the policy file; the old policy keeps serving", { file, detail: (err as Error).message });
      throw new RpcError(503, "unavailable", `the policy was not installed: --persist-policy could not write ${file} (${(err as Error).message})`);
    }
    this.log.info("policy file written (--persist-policy)", { file });
  }
}
