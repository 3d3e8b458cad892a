// A checkpoint that cannot be written fails the log closed: later and pending appends and
// flushes reject instead of hanging.
import { describe, expect, it, vi } from "vitest";

let failWrites = false;
vi.mock("../../src/audit/checkpoint.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/audit/checkpoint.js")>();
  return {
    ...real,
    writeCheckpoint: async (...args: Parameters<typeof real.writeCheckpoint>) => {
      if (failWrites) throw new Error("EIO: injected");
      return real.writeCheckpoint(...args);
    },
  };
});

const { AuditLog } = await import("../../src/audit/log.js");
const { entry, tempDir } = await import("./helpers.js");

describe("checkpoint write failure", () => {
  it("rejects pending appends and flush waiters, and refuses new appends", async () => {
    const log = await AuditLog.open(tempDir("cp-fail"), { checkpointIntervalMs: 0, batchWindowMs: 50 });
    await log.append(entry(1));
    await log.checkpoint(); // none in flight: the next batch's checkpoint is the failing one
    failWrites = true;
    // This batch's sync triggers a checkpoint that fails; records queued behind it must not hang.
    const first = log.append(entry(2));
    await first; // durable before the checkpoint was attempted
    const queued = Array.from({ length: 20 }, (_, i) => log.append(entry(3 + i)).then(() => "ok", (e: Error) => e.message));
    const flushed = log.flush().then(() => "ok", (e: Error) => e.message);
    const outcomes = await Promise.all([...queued, flushed]);
    // Queued within the batch window, they were pending when the checkpoint failed.
    expect(outcomes.every((o) => /checkpoint write failed: EIO: injected/.test(o))).toBe(true);
    await expect(log.append(entry(99))).rejects.toThrow(/checkpoint write failed/);
    failWrites = false;
    await log.close().catch(() => undefined);
  });
});
