// Shared by the gate tests: gates opened on a policy text, closed after each test, and the
// records of an audit directory as plain JSON.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach } from "vitest";
import { Gate } from "../../src/gate/gate.js";
import { Policy } from "../../src/policy.js";

/** `open(dir, yaml?)` opens a gate on `yaml` (default `defaultYaml`); `gates` are closed after each test. */
export function gateOpener(defaultYaml: string): { gates: Gate[]; open: (dir: string, yaml?: string) => Promise<Gate> } {
  const gates: Gate[] = [];
  afterEach(async () => {
    for (const g of gates.splice(0)) await g.close().catch(() => undefined);
  });
  const open = async (dir: string, yaml = defaultYaml): Promise<Gate> => {
    const gate = await Gate.open({ policy: Policy.fromYaml(yaml), auditDir: dir, audit: { batchWindowMs: 0 } });
    gates.push(gate);
    return gate;
  };
  return { gates, open };
}

/** Every record of the log in `dir`, in order. */
export function records(dir: string): Record<string, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  return readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort()
    .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)));
}
