// The primary process of `tollgate serve`: owns the one audit log (one hash chain whatever the
// number of workers), the approvals, the policy source of truth, metrics aggregation and
// shutdown. Workers (node:cluster) serve HTTP; the primary hands them connections round-robin.

import cluster from "node:cluster";
import type { Worker } from "node:cluster";
import { readFileSync, watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AggregatorRegistry, Registry } from "prom-client";
import { Approvals, ApprovalAlreadyResolved, ApprovalError, ApprovalNotFound } from "../approvals/index.js";
import type { Approval } from "../approvals/index.js";
import type { AuditEntry } from "../audit/format.js";
import { AuditLog } from "../audit/log.js";
import { AuditError } from "../audit/recover.js";
import type { Decision } from "../decision.js";
import { PolicyError } from "../errors.js";
import { transitionEntry } from "../pipeline/transition.js";
import { GateMetrics } from "../metrics/metrics.js";
import { Policy } from "../policy.js";
import type { ServerConfig } from "./config.js";
import { RpcError } from "./ipc.js";
import type { RpcMethod, ToPrimary, ToWorker, WireEntry } from "./ipc.js";
import { Log } from "./log.js";
import { PolicyChecker, summaryOf } from "./policy-check.js";
import type { PolicySummary } from "./policy-check.js";
import { Tokens } from "./tokens.js";
import type { Principal } from "./tokens.js";

export interface PrimaryHandle {
  /** Resolves with the exit code once the server has shut down. */
  done: Promise<number>;
}

interface Current {
  /** The workers compile the policy; the primary keeps its name, hash and size. */
  policy: PolicySummary;
  yaml: string;
  filename: string;
}

/** Frozen decision objects by their canonical JSON: the audit log caches a frozen decision's text. */
class DecisionIntern {
  private map = new Map<string, Decision>();
  get(text: string): Decision {
    let d = this.map.get(text);
    if (d === undefined) {
      if (this.map.size >= 65_536) this.map.clear();
      d = Object.freeze(JSON.parse(text) as Decision);
      this.map.set(text, d);
    }
    return d;
  }
}

/** The audit entry of a wire entry: action and decision are canonical JSON made in the worker. */
function entryOf(decision: Decision, e: WireEntry): AuditEntry {
  return { decision, decisionJson: e[0], actionJson: e[1], policy: e[2], policy_hash: e[3], eval_ns: e[4] };
}

function rpcErrorOf(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof ApprovalNotFound) return new RpcError(404, "not_found", err.message);
  if (err instanceof ApprovalAlreadyResolved) return new RpcError(409, "already_resolved", err.message, { approval: err.approval });
  if (err instanceof ApprovalError) {
    if (err.code === "unavailable") return new RpcError(503, "audit_unavailable", err.message);
    return new RpcError(err.code === "closed" ? 503 : 400, err.code === "closed" ? "unavailable" : "bad_request", err.message);
  }
  if (err instanceof PolicyError) {
    return new RpcError(422, "invalid_policy", err.format(), { problems: err.errors });
  }
  return new RpcError(500, "internal", (err as Error)?.message ?? String(err));
}

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

export async function runPrimary(config: ServerConfig, log: Log): Promise<PrimaryHandle> {
  // Everything that can be wrong with the configuration fails here, before any worker starts.
  Tokens.fromFile(config.tokens);
  const initialYaml = readFileSync(config.policy, "utf8");
  let current: Current = { policy: summaryOf(Policy.fromYaml(initialYaml, { filename: config.policy })), yaml: initialYaml, filename: config.policy };

  let audit: AuditLog;
  try {
    audit = await AuditLog.open(config.auditDir, {
      // A batch starts at the end of the event-loop turn that brought its first record (so that
      // the records of all the IPC messages read in one turn share an fdatasync) rather than after
      // a timer: every decision waits for its record, and a timer would add its delay to each.
      // Records arriving during a write+fdatasync go in the next batch.
      batchWindowMs: 0,
      witness: config.auditWitness,
      onWarning: (w) => log.warn("audit warning", { code: w.code, detail: w.message }),
    });
  } catch (err) {
    throw startupError(err, "the audit log", config.auditDir);
  }
  const metrics = new GateMetrics({ registry: new Registry() });
  const intern = new DecisionIntern();

  // Once a write or sync of the audit log has failed (disk full, I/O error), the log refuses
  // every append for good: decisions answer 503, approvals cannot be resolved (they stay
  // pending), and /readyz says not ready, until the server is restarted.
  let auditFailure: Error | null = null;
  const auditDown = (): ToWorker => ({
    t: "state",
    ready: false,
    code: "audit_unavailable",
    reason: `the audit log cannot be written (${auditFailure?.message ?? "failed"}); decisions and approvals answer 503 until the server is restarted`,
  });
  const noteAuditFailure = (err: unknown) => {
    if (auditFailure !== null || shuttingDown || !(err instanceof AuditError)) return;
    auditFailure = err;
    log.error("the audit log failed: decisions and approvals answer 503 and /readyz is not ready until the server is restarted", { detail: err.message });
    for (const w of Object.values(cluster.workers ?? {})) if (w) sendTo(w, auditDown());
  };

  const transitionAudit = async (a: Approval) => {
    try {
      return await audit.append(transitionEntry(a));
    } catch (err) {
      noteAuditFailure(err);
      throw err;
    }
  };
  let approvals: Approvals;
  try {
    approvals = Approvals.open({
      store: config.approvals,
      audit: transitionAudit,
      // Refused at once (503, the approval stays pending) while the log cannot take the record.
      auditReady: () => auditFailure === null,
      onError: (e) => log.warn("approvals", { detail: e.message }),
    });
  } catch (err) {
    await audit.close().catch(() => undefined);
    throw startupError(err, "the approvals database", config.approvals);
  }
  // A failure found by the log itself while idle (a checkpoint that cannot be written) shows at
  // the next append; looking every second makes /readyz say so without waiting for one.
  const probe = setInterval(() => {
    audit.flush().catch(noteAuditFailure);
  }, 1000);
  probe.unref();

  let shuttingDown = false;
  let readyWorkers = 0;
  let listeningReported = false;
  const waits = new AbortController();
  let exitCode = 0;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));

  // --- workers -------------------------------------------------------------------------------

  // SCHED_NONE: every worker accepts on the shared socket itself. With round-robin the primary
  // accepts and passes each connection to a worker over the IPC channel, and Node queues every
  // later IPC message (audit acknowledgements included) behind each handle until the worker
  // acknowledges it: 10,000 new sessions then stall decisions for seconds.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({
    exec: join(dirname(fileURLToPath(import.meta.url)), "worker-main.js"),
    args: [],
    serialization: "advanced", // structured clone: the JSON texts in audit entries are not escaped again
  });
  const env = { TOLLGATE_SERVE_CONFIG: JSON.stringify(config) };
  const fork = () => cluster.fork(env);
  for (let i = 0; i < config.workers; i++) fork();

  const sendTo = (w: Worker, msg: ToWorker) => {
    if (w.isConnected()) w.send(msg);
  };

  cluster.on("exit", (w, code, signal) => {
    if (shuttingDown) return;
    log.error("worker exited; starting another", { worker: w.id, code, signal });
    readyWorkers = Math.max(0, readyWorkers - 1);
    fork();
  });

  // --- policy ---------------------------------------------------------------------------------

  let reloadChain: Promise<unknown> = Promise.resolve();
  let nextPolicyMsg = 1;
  const policyAcks = new Map<number, { left: Set<number>; resolve: () => void; errors: string[] }>();

  // Validation runs in a worker thread: a large policy takes the engine seconds to load, and
  // the primary's event loop must keep writing the audit records every decision waits for.
  const checker = new PolicyChecker((message) => log.warn(message));

  /** Validates and installs a policy in every worker; serialized. Throws PolicyError. */
  const install = (yaml: string, filename: string, source: string): Promise<{ policy: string; policy_hash: string; changed: boolean }> => {
    const run = async () => {
      const policy = await checker.check(yaml, filename); // throws PolicyError: the old one keeps serving
      if (policy.hash === current.policy.hash) return { policy: policy.name, policy_hash: policy.hash, changed: false };
      const previous = current;
      current = { policy, yaml, filename };
      const id = nextPolicyMsg++;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected());
      const errors: string[] = [];
      // One worker at a time: compiling a large policy blocks a worker's event loop for a while
      // (hundreds of ms for 1,000 rules), and the other workers keep serving meanwhile.
      for (const w of workers) {
        if (!w.isConnected()) continue;
        await new Promise<void>((resolve) => {
          const give = () => {
            if (policyAcks.delete(id)) resolve();
          };
          const timer = setTimeout(give, 30_000);
          w.once("exit", give);
          policyAcks.set(id, {
            left: new Set([w.id]),
            resolve: () => {
              clearTimeout(timer);
              w.off("exit", give);
              resolve();
            },
            errors,
          });
          sendTo(w, { t: "policy", id, yaml, filename, hash: policy.hash });
        });
      }
      log.info("policy loaded", { source, policy: policy.name, policy_hash: policy.hash, previous_hash: previous.policy.hash, rules: policy.rules });
      if (errors.length > 0) log.error("a worker could not load the policy", { errors });
      return { policy: policy.name, policy_hash: policy.hash, changed: true };
    };
    const p = reloadChain.then(run, run);
    reloadChain = p.catch(() => undefined);
    return p;
  };

  const reloadFromFile = (source: string) => {
    if (shuttingDown) return;
    let yaml: string;
    try {
      yaml = readFileSync(config.policy, "utf8");
    } catch (err) {
      log.error("policy reload failed: cannot read the file; the old policy keeps serving", { source, file: config.policy, detail: (err as Error).message });
      return;
    }
    install(yaml, config.policy, source).catch((err) => {
      log.error("policy reload failed; the old policy keeps serving", { source, errors: err instanceof PolicyError ? err.format() : String(err) });
    });
  };

  let watcher: FSWatcher | null = null;
  if (config.watch) {
    let timer: NodeJS.Timeout | undefined;
    const name = basename(config.policy);
    try {
      // The directory, not the file: editors replace files by renaming.
      watcher = watch(dirname(config.policy), (_event, file) => {
        if (file !== null && file !== name) return;
        clearTimeout(timer);
        timer = setTimeout(() => reloadFromFile("file change"), 200);
      });
      watcher.unref();
    } catch (err) {
      log.warn("cannot watch the policy file; reload with SIGHUP or PUT /v1/policy", { detail: (err as Error).message });
    }
  }

  // --- audit ----------------------------------------------------------------------------------

  const onAudit = (w: Worker, msg: Extract<ToPrimary, { t: "audit" }>) => {
    const n = msg.e.length;
    const started = process.hrtime.bigint();
    const decisions: Decision[] = new Array(n);
    const entries: AuditEntry[] = new Array(n);
    let appended: Promise<{ seq: number; hashes: string[] }>;
    try {
      for (let i = 0; i < n; i++) {
        const e = msg.e[i]!;
        const d = (decisions[i] = intern.get(e[0]));
        entries[i] = entryOf(d, e);
      }
      appended = audit.appendMany(entries); // one promise for the message's records
    } catch (err) {
      sendTo(w, { t: "audit", id: msg.id, err: (err as Error).message });
      return;
    }
    appended.then(
      ({ seq, hashes }) => {
        const ns = Number(process.hrtime.bigint() - started);
        const x: number[] = [];
        for (let i = 0; i < n; i++) {
          metrics.recordAuditAppend(msg.e[i]![2], ns);
          if (decisions[i]!.decision === "escalate") x.push(i);
        }
        // Durable: acknowledged now (the hashes as one string, 64 hex digits each), so that the
        // decisions of this message that are not escalations do not wait for the approvals'
        // SQLite commit; the approval ids follow.
        sendTo(w, { t: "audit", id: msg.id, s: seq, h: hashes.join(""), x });
        if (x.length === 0) return;
        void Promise.all(x.map((i) => openApproval(decisions[i]!, msg.e[i]!, { seq: seq + i, hash: hashes[i]! }))).then((ap) =>
          sendTo(w, { t: "approvals", id: msg.id, ap }),
        );
      },
      (err: Error) => {
        noteAuditFailure(err);
        sendTo(w, { t: "audit", id: msg.id, err: err.message });
      },
    );
  };

  // --- approvals ------------------------------------------------------------------------------

  // Escalations are opened in one SQLite transaction per event-loop turn: the store commits with
  // synchronous=FULL, and one fsync per escalation would stall the primary at a few hundred/s.
  let toOpen: { decision: Decision; e: WireEntry; at: { seq: number; hash: string }; resolve: (id: string | null) => void }[] = [];
  // The commit (an fsync) blocks the primary's event loop, so a commit is followed by a pause at
  // least as long as it took: at most half of the primary's time goes to approvals however
  // many escalations arrive, and the audit acknowledgements of other decisions keep flowing.
  let lastCommitEnd = 0;
  let lastCommitMs = 0;
  let openScheduled = false;
  const openApproval = (decision: Decision, e: WireEntry, at: { seq: number; hash: string }): Promise<string | null> =>
    new Promise((resolve) => {
      toOpen.push({ decision, e, at, resolve });
      if (openScheduled) return;
      openScheduled = true;
      const wait = lastCommitEnd + Math.max(2, lastCommitMs) - performance.now();
      if (wait > 0) setTimeout(openQueued, wait);
      else setImmediate(openQueued);
    });
  const openQueued = () => {
    openScheduled = false;
    const started = performance.now();
    const batch = toOpen;
    toOpen = [];
    let created: (Approval | Error)[];
    try {
      created = approvals.createMany(batch.map((x) => ({ decision: x.decision, action: JSON.parse(x.e[1]), policy_hash: x.e[3], decision_seq: x.at.seq, decision_hash: x.at.hash })));
    } catch (err) {
      log.error("could not open approvals", { detail: (err as Error).message, count: batch.length });
      created = batch.map(() => err as Error);
    }
    lastCommitEnd = performance.now();
    lastCommitMs = lastCommitEnd - started;
    batch.forEach((x, i) => {
      const a = created[i]!;
      if (a instanceof Error) {
        log.error("could not open an approval", { detail: a.message, seq: x.at.seq });
        x.resolve(null);
      } else {
        x.resolve(a.id);
      }
    });
  };

  /** The approval, if `who` may see it: agents their own, approvers those of their approvers. */
  const visible = (a: Approval | undefined, id: string, who: Principal): Approval => {
    if (a === undefined) throw new RpcError(404, "not_found", `approval ${id} not found`);
    if (who.role === "admin") return a;
    if (who.role === "approver" && who.approvers.includes(a.approver)) return a;
    if (who.role === "agent") {
      const agent = (a.action as { agent?: { id?: unknown } } | null)?.agent?.id;
      if (agent === who.identity) return a;
      throw new RpcError(404, "not_found", `approval ${id} not found`);
    }
    throw new RpcError(403, "forbidden", `approval ${id} is for approver '${a.approver}', not one of yours`);
  };

  const rpc = async (method: RpcMethod, p: Record<string, unknown> | null, who: Principal): Promise<unknown> => {
    switch (method) {
      case "put-policy":
        if (who.role !== "admin") throw new RpcError(403, "forbidden", "only admins may change the policy");
        if (shuttingDown) throw new RpcError(503, "unavailable", "shutting down");
        return install(p!.yaml as string, "<PUT /v1/policy>", `PUT by ${who.identity}`);
      case "approval-get":
        return visible(approvals.get(p!.id as string), p!.id as string, who);
      case "approval-wait": {
        const id = p!.id as string;
        visible(approvals.get(id), id, who);
        if (shuttingDown) return approvals.get(id);
        try {
          return await approvals.wait(id, { timeoutMs: p!.timeoutMs as number, signal: waits.signal });
        } catch (err) {
          if (waits.signal.aborted) return approvals.get(id); // shutting down: answer with the state as it is
          throw err;
        }
      }
      case "approval-list": {
        if (who.role === "agent") throw new RpcError(403, "forbidden", "agents may not list approvals");
        const state = p!.state as Approval["state"] | undefined;
        const approver = p!.approver as string | undefined;
        const limit = (p!.limit as number | undefined) ?? 1000;
        if (who.role === "admin" || approver !== undefined) {
          if (who.role !== "admin" && !who.approvers.includes(approver!)) return [];
          return approvals.list({ ...(state ? { state } : {}), ...(approver ? { approver } : {}), limit });
        }
        // An approver without ?approver=: the approvals of each approver it names.
        const mine = who.approvers.flatMap((name) => approvals.list({ ...(state ? { state } : {}), approver: name, limit }));
        mine.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
        return mine.slice(0, limit);
      }
      case "approval-resolve": {
        if (who.role === "agent") throw new RpcError(403, "forbidden", "agents may not resolve approvals");
        const id = p!.id as string;
        const a = approvals.get(id);
        if (a === undefined) throw new RpcError(404, "not_found", `approval ${id} not found`);
        if (who.role !== "admin" && !who.approvers.includes(a.approver)) {
          throw new RpcError(403, "forbidden", `approval ${id} is for approver '${a.approver}', not one of yours`);
        }
        const input = { by: who.identity, ...(typeof p!.note === "string" ? { note: p!.note } : {}) };
        const r = p!.verb === "approve" ? await approvals.approve(id, input) : await approvals.deny(id, input);
        return r;
      }
      case "metrics":
        return clusterMetrics();
    }
    throw new RpcError(400, "bad_request", `unknown method ${String(method)}`);
  };

  // --- metrics --------------------------------------------------------------------------------

  let nextMetricsId = 1;
  const metricsRequests = new Map<number, { left: number; parts: unknown[][]; resolve: (parts: unknown[][]) => void }>();
  const clusterMetrics = async (): Promise<string> => {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected());
    const id = nextMetricsId++;
    const parts = await new Promise<unknown[][]>((resolve) => {
      if (workers.length === 0) return resolve([]);
      const req = { left: workers.length, parts: [] as unknown[][], resolve };
      metricsRequests.set(id, req);
      for (const w of workers) w.send({ t: "metrics-req", id });
      setTimeout(() => {
        if (metricsRequests.delete(id)) resolve(req.parts);
      }, 2000).unref();
    });
    try {
      // Counted when scraped (an indexed count), under the name of the policy being served.
      metrics.setPendingApprovals(current.policy.name, approvals.pendingCount());
    } catch {
      // closed
    }
    parts.push((await metrics.registry.getMetricsAsJSON()) as unknown[]);
    // HDR percentiles cannot be summed across workers: the largest is the conservative figure.
    for (const part of parts) {
      for (const m of part as { name: string; aggregator?: string }[]) {
        if (m.name.endsWith("_latency_seconds")) m.aggregator = "max";
      }
    }
    return AggregatorRegistry.aggregate(parts as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  };

  // --- messages -------------------------------------------------------------------------------

  cluster.on("message", (w: Worker, msg: ToPrimary | { t: "metrics-res"; id: number; metrics: unknown[] }) => {
    switch (msg.t) {
      case "audit":
        onAudit(w, msg);
        break;
      case "hello":
        sendTo(w, { t: "config-policy", yaml: current.yaml, filename: current.filename, hash: current.policy.hash });
        break;
      case "ready":
        if (auditFailure !== null) sendTo(w, auditDown()); // a worker started after the failure
        readyWorkers++;
        if (!listeningReported && readyWorkers >= config.workers) {
          listeningReported = true;
          log.notice("listening", {
            host: config.host,
            port: msg.port,
            url: `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${msg.port}`,
            workers: config.workers,
            policy: current.policy.name,
            policy_hash: current.policy.hash,
            audit_dir: config.auditDir,
          });
        }
        break;
      case "policy-loaded": {
        const ack = policyAcks.get(msg.id);
        if (!ack) break;
        if (msg.error) ack.errors.push(msg.error);
        ack.left.delete(w.id);
        if (ack.left.size === 0) {
          policyAcks.delete(msg.id);
          ack.resolve();
        }
        break;
      }
      case "rpc":
        rpc(msg.m, msg.p as Record<string, unknown> | null, msg.who).then(
          (r) => sendTo(w, { t: "rpc", id: msg.id, r }),
          (err) => {
            const e = rpcErrorOf(err);
            if (e.status >= 500) log.error("rpc failed", { method: msg.m, detail: e.message });
            sendTo(w, { t: "rpc", id: msg.id, err: { status: e.status, code: e.code, message: e.message, details: e.details } });
          },
        );
        break;
      case "metrics-res": {
        const req = metricsRequests.get(msg.id);
        if (!req) break;
        req.parts.push(msg.metrics);
        if (--req.left === 0) {
          metricsRequests.delete(msg.id);
          req.resolve(req.parts);
        }
        break;
      }
    }
  });

  // --- signals and shutdown -------------------------------------------------------------------

  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    clearInterval(probe);
    log.info("shutting down", { signal });
    watcher?.close();
    waits.abort(new Error("shutting down"));
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    const exited = Promise.all(workers.map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) return resolve();
      w.once("exit", () => resolve());
    })));
    for (const w of workers) sendTo(w, { t: "shutdown" });
    const timer = setTimeout(() => {
      log.error("workers did not finish in time; killing them", { timeout_ms: config.shutdownTimeoutMs });
      exitCode = 1;
      for (const w of workers) if (!w.isDead()) w.process.kill("SIGKILL");
    }, config.shutdownTimeoutMs);
    await exited;
    clearTimeout(timer);
    await checker.close().catch(() => undefined);
    try {
      approvals.close();
    } catch (err) {
      log.error("closing approvals failed", { detail: (err as Error).message });
    }
    try {
      await audit.close(); // flush + final signed checkpoint
      log.info("audit log closed", { last_seq: audit.lastSeq });
    } catch (err) {
      exitCode = 1;
      log.error("closing the audit log failed", { detail: (err as Error).message });
    }
    resolveDone(exitCode);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGHUP", () => {
    reloadFromFile("SIGHUP");
    // The tokens file too: checked here first, so that a broken file changes nothing.
    try {
      Tokens.fromFile(config.tokens);
      for (const w of Object.values(cluster.workers ?? {})) if (w) sendTo(w, { t: "tokens" });
      log.info("tokens reloaded", { file: config.tokens });
    } catch (err) {
      log.error("tokens reload failed; the old tokens stay", { detail: (err as Error).message });
    }
  });

  return { done };
}
