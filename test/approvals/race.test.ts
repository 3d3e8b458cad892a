// Concurrent approve/deny across processes: several child processes and the owner resolve the
// same approvals in the same store (SQLite file, PostgreSQL database) at once. Exactly one resolution wins per approval;
// every other gets ApprovalAlreadyResolved naming the winner; the owner writes exactly one
// audit record per transition and wakes its waiters.

import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalAlreadyResolved } from "../../src/approvals/approval.js";
import { Approvals } from "../../src/approvals/approvals.js";
import { transpileForChild } from "../cli-helpers.js";
import { fakeAudit, input, openStore, storeKinds } from "./helpers.js";

let out: string;

/** Node 20 cannot run TypeScript: transpile the worker and what it imports (inside the repo, so
 *  that `better-sqlite3` resolves from node_modules). */
beforeAll(() => {
  out = transpileForChild("tollgate-approvals-race-", ["src/approvals/approval.ts", "src/approvals/store.ts", "src/approvals/store-api.ts", "src/approvals/open-store.ts", "src/approvals/postgres-store.ts", "src/audit/recordable.ts", "src/canonical.ts", "test/approvals/race-worker.ts"]);
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Result {
  id: string;
  by: string;
  won: boolean;
  message?: string;
  error?: string;
}

interface Worker {
  ready: Promise<void>;
  go(): void;
  results: Promise<Result[]>;
}

function worker(db: string, name: string, offset: number, ids: string[]): Worker {
  const child = spawn(process.execPath, [join(out, "test/approvals/race-worker.js"), db, name, String(offset), JSON.stringify(ids)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let text = "";
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d: string) => {
    text += d;
    if (text.startsWith("ready\n")) markReady();
  });
  const results = new Promise<Result[]>((resolve, reject) => {
    child.on("error", reject);
    // "close", not "exit": stdout may still hold the results when the process has exited.
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${name} exited with ${code}: ${text}`));
      try {
        resolve(JSON.parse(text.slice("ready\n".length)) as Result[]);
      } catch (err) {
        reject(new Error(`${name}: no results on stdout (${(err as Error).message}): ${text}`));
      }
    });
  });
  return { ready, go: () => child.stdin.end("go\n"), results };
}

for (const kind of storeKinds("test/approvals/race.test.ts")) describe.skipIf(!kind.available)(`approve/deny races across processes (${kind.name})`, () => {
  it("exactly one of 8 processes and the owner wins each approval; one audit record each", async () => {
    const db = await kind.fresh("approvals-race");
    const audit = fakeAudit();
    const owner = await Approvals.open({ store: db, audit, pollMs: 20 });
    try {
      const approvals = await Promise.all(Array.from({ length: 60 }, () => owner.create(input())));
      const ids = approvals.map((a) => a.id);
      const waits = ids.map((id) => owner.wait(id));
      const workers = Array.from({ length: 8 }, (_, k) => worker(db, `proc-${k}`, k * 7, ids));
      await Promise.all(workers.map((w) => w.ready));
      for (const w of workers) w.go();
      // The owner races too, from this process, at the same moment.
      const mine = await Promise.all(
        ids.map((id, i) =>
          (i % 2 ? owner.approve(id, { by: "owner" }) : owner.deny(id, { by: "owner" })).then(
            (): Result => ({ id, by: "owner", won: true }),
            (e: unknown): Result => {
              if (e instanceof ApprovalAlreadyResolved) return { id, by: "owner", won: false, message: e.message };
              return { id, by: "owner", won: false, error: String(e) };
            },
          ),
        ),
      );
      const all = [...mine, ...(await Promise.all(workers.map((w) => w.results))).flat()];
      expect(all.filter((r) => r.error)).toEqual([]);
      expect(all).toHaveLength(60 * 9);
      const store = await openStore(db);
      for (const id of ids) {
        const tries = all.filter((r) => r.id === id);
        const winners = tries.filter((r) => r.won);
        expect(winners).toHaveLength(1);
        const stored = (await store.get(id))!;
        expect(stored.resolved_by).toBe(winners[0]!.by);
        for (const r of tries) if (!r.won) expect(r.message).toMatch(new RegExp(`^approval ${id} was already (approved|denied) by ${winners[0]!.by} at `));
      }
      // The owner notices the resolutions made by the other processes and audits each once.
      const woken = await Promise.all(waits);
      expect(woken.every((w) => w.state !== "pending" && w.resolution_seq !== null)).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
      expect(audit.calls.map((c) => c.id).sort()).toEqual([...ids].sort());
      expect(await store.unaudited()).toEqual([]);
      await store.close();
    } finally {
      await owner.close();
    }
  });

  it("8 processes creating the same fresh database at once agree on one schema", async () => {
    const db = await kind.fresh("approvals-fresh");
    const workers = Array.from({ length: 8 }, (_, k) => worker(db, `proc-${k}`, k, []));
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    expect((await Promise.all(workers.map((w) => w.results))).flat()).toEqual([]);
    const store = await openStore(db);
    expect(await store.list()).toEqual([]);
    await store.close();
  });
});
