// Shared fixtures for the audit tests: a policy, deterministic clocks and entries, temp dirs.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Policy } from "../../src/policy.js";
import { auditRecord } from "../../src/audit/record.js";
import type { AuditEntry } from "../../src/audit/format.js";

export const policy = Policy.fromYaml(`tollgate: 1
name: audit-test
audit:
  redact:
    - args.card_number
    - 'args["secret.key"]'
    - session.token
rules:
  - { id: big, effect: deny, reason: too big, when: { args.amount: { gt: 1000 } } }
  - { id: pay, effect: allow, when: { tool: payments.refund } }
`);

export function tempDir(name = "audit"): string {
  return mkdtempSync(join(tmpdir(), `tollgate-${name}-`));
}

/** A clock that ticks 1 ms per call from a fixed start. */
export function fakeClock(start = Date.UTC(2025, 0, 1)): () => Date {
  let t = start;
  return () => new Date(t++);
}

export function entry(i: number): AuditEntry {
  const action = { tool: "payments.refund", args: { amount: (i * 37) % 2000, order: `o-${i}`, card_number: "4111 1111 1111 1111" } };
  return auditRecord(policy, action, policy.evaluate(action), 1000 + (i % 500));
}
