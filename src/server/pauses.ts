// Pause log (issue 19, "no long pauses"): with TOLLGATE_PAUSE_LOG=DIR in its environment, each
// process of `tollgate serve` (the primary and every worker) appends one JSON line per second to
// DIR/<role>-<pid>.jsonl: every garbage-collection pause that ended in that second (start, length,
// kind; perf_hooks 'gc' entries) and that second's event-loop delay (monitorEventLoopDelay,
// 1 ms resolution: percentiles and the largest). `npm run bench:server` reads them for the
// window of each run. Off (and free) without the variable.

import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { constants, monitorEventLoopDelay, PerformanceObserver, performance } from "node:perf_hooks";
import type { PerformanceEntry } from "node:perf_hooks";

/** One second of one process. Times are milliseconds (epoch for `t` and a pause's start). */
export interface PauseLine {
  t: number;
  role: string;
  pid: number;
  /** [start (epoch ms), length ms, kind] per GC pause. */
  gc: [number, number, string][];
  /** Event-loop delay over the second, ms (null when the loop never ran a sample). */
  eld: { count: number; p50: number; p99: number; p999: number; max: number } | null;
}

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};

/** Starts the pause log for this process when TOLLGATE_PAUSE_LOG is set; returns whether it did. */
export function startPauseLog(role: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const dir = env.TOLLGATE_PAUSE_LOG;
  if (dir === undefined || dir === "") return false;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${role}-${process.pid}.jsonl`);
  const origin = performance.timeOrigin;
  let gc: [number, number, string][] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
      gc.push([Math.round((origin + e.startTime) * 1000) / 1000, Math.round(e.duration * 1000) / 1000, KINDS[e.detail?.kind ?? -1] ?? "other"]);
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const ms = (ns: number) => Math.round(ns / 1e3) / 1e3;
  const timer = setInterval(() => {
    const line: PauseLine = {
      t: Date.now(),
      role,
      pid: process.pid,
      gc,
      eld: delay.count === 0 ? null : { count: delay.count, p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), p999: ms(delay.percentile(99.9)), max: ms(delay.max) },
    };
    gc = [];
    delay.reset();
    try {
      appendFileSync(file, JSON.stringify(line) + "\n");
    } catch {
      // a diagnostic that cannot be written must not disturb the server
    }
  }, 1000);
  timer.unref();
  return true;
}
