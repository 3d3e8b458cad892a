// The primary's shadow policy (docs/server.md, "Shadow"): a candidate every worker also decides
// with, never answering with it. Its source is `--shadow FILE` (read at start) or the last
// PUT /v1/policy/shadow; DELETE stops it. Validated off the event loop as the live policy is
// (policy-check.ts), then installed in every worker, one at a time; changes are serialized.
// A live reload leaves it in place, except one that installs the candidate itself (the same
// policy hash: it has been promoted), which ends shadowing.

import { readPolicyFile } from "../policy-text.js";
import type { Worker } from "node:cluster";
import { Policy } from "../policy.js";
import { requireRole } from "./access.js";
import type { ServerConfig } from "./config.js";
import { RpcError } from "./ipc.js";
import type { RpcParams, ShadowSource, ToPrimary } from "./ipc.js";
import type { Log } from "./log.js";
import { PolicyChecker, summaryOf } from "./policy-check.js";
import type { PolicySummary } from "./policy-check.js";
import type { Principal } from "./tokens.js";
import { WorkerRollout } from "./worker-rollout.js";

/** What GET/PUT/DELETE /v1/policy/shadow answer. */
export interface ShadowState {
  /** false: no shadow policy. */
  shadowing: boolean;
  policy?: string;
  policy_hash?: string;
  rules?: number;
  /** Where disagreements are written (JSON lines). */
  log: string;
}

export class ShadowSync {
  private current: { source: ShadowSource; summary: PolicySummary } | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly rollout = new WorkerRollout();
  private readonly checker: PolicyChecker;
  private stopping = false;

  /**
   * Reads and validates `--shadow` (at start, before any worker: a bad one throws a PolicyError).
   * `live`: the hash of the policy being served.
   */
  constructor(
    private readonly config: ServerConfig,
    private readonly log: Log,
    private readonly live: () => string,
  ) {
    this.checker = new PolicyChecker((message) => log.warn(message));
    if (config.shadow !== undefined) {
      const yaml = readPolicyFile(config.shadow);
      const summary = summaryOf(Policy.fromYaml(yaml, { filename: config.shadow }));
      if (summary.hash !== live()) this.current = { source: { yaml, filename: config.shadow, hash: summary.hash }, summary };
      else log.warn("--shadow is the policy being served: nothing to compare, not shadowing", { file: config.shadow });
    }
  }

  /** The shadow policy a new worker starts with. */
  get source(): ShadowSource | null {
    return this.current?.source ?? null;
  }

  state(): ShadowState {
    const c = this.current;
    if (c === null) return { shadowing: false, log: this.config.shadowLog };
    return { shadowing: true, policy: c.summary.name, policy_hash: c.summary.hash, rules: c.summary.rules, log: this.config.shadowLog };
  }

  /** GET /v1/policy/shadow (admins). */
  get(_p: RpcParams["get-shadow"], who: Principal): ShadowState {
    requireRole("get-shadow", who);
    return this.state();
  }

  /** PUT /v1/policy/shadow (admins): validates (PolicyError: 422, nothing changes) and installs. */
  put(p: RpcParams["put-shadow"], who: Principal): Promise<ShadowState> {
    requireRole("put-shadow", who);
    if (this.stopping) throw new RpcError(503, "unavailable", "shutting down");
    return this.serialized(async () => {
      const summary = await this.checker.check(p.yaml, "<PUT /v1/policy/shadow>");
      if (summary.hash === this.live()) {
        throw new RpcError(409, "same_policy", "the candidate is the policy being served: there is nothing to compare (PUT /v1/policy promotes a candidate)");
      }
      if (summary.hash === this.current?.summary.hash) return this.state();
      const source = { yaml: p.yaml, filename: "<PUT /v1/policy/shadow>", hash: summary.hash };
      this.current = { source, summary }; // a worker started from now on gets it too
      await this.install(source);
      this.log.info("shadow policy installed", { source: `PUT by ${who.identity}`, policy: summary.name, policy_hash: summary.hash, live_hash: this.live() });
      return this.state();
    });
  }

  /** DELETE /v1/policy/shadow (admins): stops shadowing (nothing to stop is not an error). */
  delete(_p: RpcParams["delete-shadow"], who: Principal): Promise<ShadowState> {
    requireRole("delete-shadow", who);
    if (this.stopping) throw new RpcError(503, "unavailable", "shutting down");
    return this.serialized(() => this.stop(`DELETE by ${who.identity}`));
  }

  /** A live policy is being installed: if it is the candidate (promoted), shadowing ends. */
  onLivePolicy(hash: string): void {
    if (this.current?.summary.hash !== hash) return;
    void this.serialized(() => (this.current?.summary.hash === hash ? this.stop("promoted: the live policy is now the candidate") : this.state()));
  }

  /** A worker's answer to a `shadow` message. */
  onLoaded(w: Worker, msg: Extract<ToPrimary, { t: "shadow-loaded" }>): void {
    this.rollout.onAnswer(w, msg.id, msg.error);
  }

  /** Shutting down: no more changes. */
  stopAccepting(): void {
    this.stopping = true;
  }

  /** Stops the validation thread. */
  async close(): Promise<void> {
    await this.checker.close().catch(() => undefined);
  }

  private async stop(source: string): Promise<ShadowState> {
    const was = this.current;
    if (was === null) return this.state();
    this.current = null;
    await this.install(null);
    this.log.info("shadowing stopped", { source, policy: was.summary.name, policy_hash: was.summary.hash });
    return this.state();
  }

  private serialized<T>(run: () => Promise<T> | T): Promise<T> {
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Sends the shadow (or null) to every worker, one at a time (each compiles it), and waits for each. */
  private async install(shadow: ShadowSource | null): Promise<void> {
    const errors = await this.rollout.toEach((id) => ({ t: "shadow", id, shadow }));
    if (errors.length > 0) this.log.error("a worker could not load the shadow policy", { errors });
  }
}
