// Entry point of a `tollgate serve` worker process (forked by the primary via node:cluster).

import { runWorker } from "./worker.js";

runWorker().catch((err: unknown) => {
  process.stderr.write(`${JSON.stringify({ level: 60, time: Date.now(), pid: process.pid, msg: "worker failed to start", detail: String((err as Error)?.stack ?? err) })}\n`);
  process.exit(70);
});
