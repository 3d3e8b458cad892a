// The worker thread of PolicyChecker (policy-check.ts): loads each policy it is sent with the
// engine, exactly as the primary did, and answers its summary or its problems.

import { parentPort } from "node:worker_threads";
import { PolicyError } from "../errors.js";
import { Policy } from "../policy.js";
import { summaryOf } from "./policy-check.js";
import type { CheckReply, CheckRequest } from "./policy-check.js";

parentPort!.on("message", (m: CheckRequest) => {
  let reply: CheckReply;
  try {
    const p = Policy.fromYaml(m.yaml, { filename: m.filename });
    reply = { id: m.id, ok: true, summary: summaryOf(p) };
  } catch (err) {
    reply = err instanceof PolicyError
      ? { id: m.id, ok: false, problems: err.errors.map((e) => ({ file: e.file, line: e.line, column: e.column, message: e.message })) }
      : { id: m.id, ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(reply);
});
