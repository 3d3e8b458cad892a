// The primary's side of the worker processes (node:cluster): forking them, replacing one that
// dies, and sending them messages (ipc.ts).

import cluster from "node:cluster";
import type { Worker } from "node:cluster";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ServerConfig } from "./config.js";
import type { ToWorker } from "./ipc.js";
import type { Log } from "./log.js";

/**
 * The messages a busy worker gets most (acknowledgements, window sums, approval ids) wait for the
 * end of the event-loop turn and go to each worker as one `many` message: one serialization, one
 * write and one read instead of one each (under load about half of the primary's sends shared a
 * turn with another to the same worker). Any other message first sends what waits for its
 * worker, so each worker gets every message in the order it was sent.
 */
const COALESCED: ReadonlySet<ToWorker["t"]> = new Set(["audit", "sums", "approvals"]);
const waiting = new Map<Worker, ToWorker[]>();
let flushScheduled = false;

function flushTo(w: Worker): void {
  const queued = waiting.get(w);
  if (queued === undefined) return;
  waiting.delete(w);
  if (w.isConnected()) w.send(queued.length === 1 ? queued[0]! : { t: "many", m: queued });
}

function flushAll(): void {
  flushScheduled = false;
  for (const w of [...waiting.keys()]) flushTo(w);
}

export function sendTo(w: Worker, msg: ToWorker): void {
  if (!COALESCED.has(msg.t)) {
    flushTo(w);
    if (w.isConnected()) w.send(msg);
    return;
  }
  const queued = waiting.get(w);
  if (queued === undefined) waiting.set(w, [msg]);
  else queued.push(msg);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAll);
  }
}

/** Every worker process, dead or alive. */
export function allWorkers(): Worker[] {
  return Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
}

/** The workers that can be sent a message now. */
export function connectedWorkers(): Worker[] {
  return allWorkers().filter((w) => w.isConnected());
}

export function broadcast(msg: ToWorker): void {
  for (const w of allWorkers()) sendTo(w, msg);
}

export class Workers {
  private stopped = false;

  /**
   * Forks `config.workers` workers; one that exits is replaced until `stop()`. `onExit` is told
   * of each replaced one.
   */
  constructor(config: ServerConfig, log: Log, onExit: () => void) {
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
    cluster.on("exit", (w, code, signal) => {
      if (this.stopped) return;
      log.error("worker exited; starting another", { worker: w.id, code, signal });
      onExit();
      fork();
    });
  }

  /** No more replacements (shutting down). */
  stop(): void {
    this.stopped = true;
  }
}
