// Child process of race.test.ts: opens the same approvals database, says "ready", waits for
// "go" on stdin, then tries to approve or deny every approval, printing what happened as JSON.

import { createInterface } from "node:readline";
import { ApprovalAlreadyResolved } from "../../src/approvals/approval.js";
import { ApprovalStore } from "../../src/approvals/store.js";

const [db, name, offset, idsJson] = process.argv.slice(2);
const ids = JSON.parse(idsJson!) as string[];
const store = ApprovalStore.open(db!);
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) if (line === "go") break;

const results: Array<{ id: string; by: string; won: boolean; message?: string; error?: string }> = [];
for (let i = 0; i < ids.length; i++) {
  const id = ids[(i + Number(offset)) % ids.length]!;
  const to = (i + Number(offset)) % 2 ? "approved" : "denied";
  try {
    store.resolve(id, to, { by: name!, at: new Date().toISOString(), outcome: to === "approved" ? "allow" : "deny" });
    results.push({ id, by: name!, won: true });
  } catch (e) {
    if (e instanceof ApprovalAlreadyResolved) results.push({ id, by: name!, won: false, message: e.message });
    else results.push({ id, by: name!, won: false, error: String(e) });
  }
}
store.close();
process.stdout.write(JSON.stringify(results) + "\n");
