// Child process of race.test.ts: opens the same approvals database (a SQLite file or a PostgreSQL URL), says "ready", waits for
// "go" on stdin, then tries to approve or deny every approval, printing what happened as JSON.

import { createInterface } from "node:readline";
import { ApprovalAlreadyResolved } from "../../src/approvals/approval.js";
import { openApprovalStore } from "../../src/approvals/open-store.js";

const [db, name, offset, idsJson] = process.argv.slice(2);
const ids = JSON.parse(idsJson!) as string[];
// As the command line: its resolutions are recorded by the owner (writesAudit: false).
const store = await openApprovalStore(db!, { writesAudit: false, max: 2 });
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) if (line === "go") break;

const results: Array<{ id: string; by: string; won: boolean; message?: string; error?: string }> = [];
for (let i = 0; i < ids.length; i++) {
  const id = ids[(i + Number(offset)) % ids.length]!;
  const to = (i + Number(offset)) % 2 ? "approved" : "denied";
  try {
    await store.resolve(id, to, { by: name!, at: new Date().toISOString(), outcome: to === "approved" ? "allow" : "deny" });
    results.push({ id, by: name!, won: true });
  } catch (e) {
    if (e instanceof ApprovalAlreadyResolved) results.push({ id, by: name!, won: false, message: e.message });
    else results.push({ id, by: name!, won: false, error: String(e) });
  }
}
await store.close();
process.stdout.write(JSON.stringify(results) + "\n");
