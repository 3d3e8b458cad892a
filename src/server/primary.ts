// The primary process of `tollgate serve`: puts together the parts it owns, one module each —
// the policy (policy-sync.ts), the one audit log and the record half of the pipeline
// (audit-owner.ts), the approvals and their authorization (approvals-owner.ts, access.ts), the
// approvals stream's tickets, snapshots and events to the workers (approval-feed.ts),
// metrics aggregation (cluster-metrics.ts), shutdown (shutdown.ts) and the worker processes
// (workers.ts) — and routes each worker message (ipc.ts) to its owner. Workers serve HTTP and
// run the decide half; they accept connections on the shared socket themselves.

import cluster from "node:cluster";
import type { Worker } from "node:cluster";
import { ApprovalFeed, StreamWorkers } from "./approval-feed.js";
import { ApprovalsOwner } from "./approvals-owner.js";
import { AuditOwner } from "./audit-owner.js";
import { ClusterMetrics } from "./cluster-metrics.js";
import { CounterOwner } from "./counter-owner.js";
import type { CounterAuthority } from "./counter-owner.js";
import { RedisCounterOwner } from "./redis-counter-owner.js";
import type { ServerConfig } from "./config.js";
import type { ToPrimary, ToWorker } from "./ipc.js";
import type { Log } from "./log.js";
import { PolicySync } from "./policy-sync.js";
import { startPauseLog } from "./pauses.js";
import { serveRpc } from "./rpc.js";
import { ShadowSync } from "./shadow-sync.js";
import type { RpcHandlers } from "./rpc.js";
import type { SharedTickets } from "../approvals/store-api.js";
import { Shutdown } from "./shutdown.js";
import { Tokens } from "./tokens.js";
import { broadcast, sendTo, Workers } from "./workers.js";

export interface PrimaryHandle {
  /** Resolves with the exit code once the server has shut down. */
  done: Promise<number>;
}

export async function runPrimary(config: ServerConfig, log: Log): Promise<PrimaryHandle> {
  // Everything that can be wrong with the configuration fails here, before any worker starts.
  Tokens.fromFile(config.tokens);
  startPauseLog("primary");
  const policy = new PolicySync(config, log);
  const shadow = new ShadowSync(config, log, () => policy.policy.hash);
  const metrics = new ClusterMetrics();
  const audit = await AuditOwner.open(config, log, metrics.metrics);
  let approvals: ApprovalsOwner;
  try {
    // Counters live here, with the log they are rebuilt from (before any worker decides).
    const counters: CounterAuthority = config.state === "memory"
      ? await CounterOwner.open(config.auditDir, policy.policy, audit.log.countedSeal)
      : await RedisCounterOwner.open(config.state, policy.policy, log);
    audit.counters = counters;
    policy.onInstall = (summary) => {
      counters.retain(summary);
      shadow.onLivePolicy(summary.hash); // promoting the candidate ends shadowing
    };
    approvals = await ApprovalsOwner.open(config, log, audit);
  } catch (err) {
    await audit.log.close().catch(() => undefined);
    throw err;
  }
  audit.startProbe();
  // The approvals stream: tickets and snapshots here, events to the workers with streams open.
  // With PostgreSQL, stream tickets live in the database: the console behind a load balancer may
  // get its ticket from one instance and open its stream on another.
  const store = approvals.approvals.store;
  const feed = new ApprovalFeed(approvals.approvals, Date.now, "putTicket" in store && "takeTicket" in store ? (store as unknown as SharedTickets) : null);
  const streams = new StreamWorkers(approvals.approvals);
  cluster.on("exit", (w: Worker) => streams.set(w, false));

  let readyWorkers = 0;
  let listeningReported = false;
  const workers = new Workers(config, log, () => {
    readyWorkers = Math.max(0, readyWorkers - 1);
  });
  policy.watch();

  const rpc: RpcHandlers = {
    "put-policy": (p, who) => policy.put(p, who),
    "get-shadow": (p, who) => shadow.get(p, who),
    "put-shadow": (p, who) => shadow.put(p, who),
    "delete-shadow": (p, who) => shadow.delete(p, who),
    "approval-get": (p, who) => approvals.get(p, who),
    "approval-wait": (p, who) => approvals.wait(p, who),
    "approval-records": (p, who) => approvals.records(p, who, config.auditDir),
    "approval-list": (p, who) => approvals.list(p, who),
    "approval-resolve": (p, who) => approvals.resolve(p, who),
    "approval-redeem": (p, who) => approvals.redeem(p, who),
    "approval-ticket": (p, who) => feed.ticket(p, who),
    "approval-ticket-redeem": (p) => feed.redeem(p),
    "approval-snapshot": (p, who) => feed.snapshot(p, who),
    metrics: () => metrics.collect(() => ({ policy: policy.policy.name, count: approvals.pendingCount() })),
  };

  cluster.on("message", (w: Worker, msg: ToPrimary) => {
    switch (msg.t) {
      case "audit":
        audit.onAudit(w, msg);
        break;
      case "sums": {
        const id = msg.id;
        let sums: number[] | Promise<number[]>;
        try {
          sums = audit.counters!.sums(msg.r, msg.now);
        } catch (err) {
          sendTo(w, { t: "sums", id, err: (err as Error).message });
          break;
        }
        if (Array.isArray(sums)) sendTo(w, { t: "sums", id, s: sums });
        else sums.then((s) => sendTo(w, { t: "sums", id, s }), (err: Error) => sendTo(w, { t: "sums", id, err: err.message }));
        break;
      }
      case "hello":
        sendTo(w, { ...policy.startMessage(), shadow: shadow.source } as ToWorker);
        break;
      case "ready":
        audit.onWorkerReady(w); // a worker started after the log failed
        readyWorkers++;
        if (!listeningReported && readyWorkers >= config.workers) {
          listeningReported = true;
          log.notice("listening", {
            host: config.host,
            port: msg.port,
            url: `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${msg.port}`,
            workers: config.workers,
            policy: policy.policy.name,
            policy_hash: policy.policy.hash,
            audit_dir: config.auditDir,
          });
        }
        break;
      case "policy-loaded":
        policy.onLoaded(w, msg);
        break;
      case "shadow-loaded":
        shadow.onLoaded(w, msg);
        break;
      case "rpc":
        serveRpc(rpc, w, msg, log);
        break;
      case "metrics-res":
        metrics.onResponse(msg);
        break;
      case "approval-events":
        streams.set(w, msg.on);
        break;
    }
  });

  // --- signals ---------------------------------------------------------------------------------

  const shutdown = new Shutdown(config, log, { workers, policy, shadow, audit, approvals });
  process.on("SIGTERM", () => void shutdown.run("SIGTERM"));
  process.on("SIGINT", () => void shutdown.run("SIGINT"));
  process.on("SIGHUP", () => {
    policy.reloadFromFile("SIGHUP");
    // The tokens file too: checked here first, so that a broken file changes nothing.
    try {
      Tokens.fromFile(config.tokens);
      broadcast({ t: "tokens" });
      log.info("tokens reloaded", { file: config.tokens });
    } catch (err) {
      log.error("tokens reload failed; the old tokens stay", { detail: (err as Error).message });
    }
  });

  return { done: shutdown.done };
}
