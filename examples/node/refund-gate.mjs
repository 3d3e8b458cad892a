// The gate around a refund bot: every action is decided, recorded durably and counted; a large
// refund waits for a human. Run from the repository: node examples/node/refund-gate.mjs [AUDIT_DIR]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ActionDenied, Gate, verifyLog } from "tollgate";

const policy = fileURLToPath(new URL("../billing-agent.yaml", import.meta.url));
const auditDir = process.argv[2] ?? mkdtempSync(join(tmpdir(), "tollgate-gate-"));

// In production the notifier would be webhookNotifier("https://chat.example/hooks/finance").
// Here the "human" approves from the notification itself, a moment later.
const gate = await Gate.open({
  policy,
  auditDir,
  notifier: (approval) => {
    console.log(`  -> approval ${approval.id} for ${approval.approver}, expires ${approval.expires}`);
    setTimeout(() => void gate.approve(approval.id, { by: "alice@finance", note: "customer is legit" }), 100);
  },
});

const refund = (amount) => ({
  tool: "payments.refund",
  args: { order_id: "ord_8f3k2m9q", amount, currency: "EUR" },
  agent: { id: "refund-bot" },
});
const issue = async (action) => `refunded ${action.args.amount} ${action.args.currency}`;

for (const action of [refund(40), refund(750), { tool: "payments.charge", args: { amount: 10 } }]) {
  try {
    console.log(`${action.tool} ${action.args.amount}: ${await gate.enforce(action, () => issue(action))}`);
  } catch (err) {
    if (!(err instanceof ActionDenied)) throw err;
    console.log(`${action.tool} ${action.args.amount}: denied (${err.message})`);
  }
}

const m = gate.metricsSnapshot();
console.log(`decisions ${JSON.stringify(m.decisions)}, audit append p99 ${(m.audit_append_ns.p99 / 1e6).toFixed(2)} ms`);
await gate.close();
const verified = await verifyLog(auditDir);
console.log(`audit log ${auditDir}: ${verified.ok ? `ok, ${verified.records} records` : `${verified.file}:${verified.line}: ${verified.message}`}`);
