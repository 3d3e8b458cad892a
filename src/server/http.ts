// What a worker's HTTP layer shares between app.ts (the fastify instance: auth, errors) and the
// route plugins (routes/): the backend the routes talk to, and the error body.

import type { CountedSeal } from "../audit/counted-seal.js";
import type { Policy } from "../policy.js";
import type { Decided } from "../pipeline/message.js";
import type { Shadow } from "../pipeline/shadow.js";
import type { RouteRoles } from "./access.js";
import type { RpcMethod, RpcParams } from "./ipc.js";
import type { Principal } from "./tokens.js";

/** What a worker's routes need from the rest of the process. */
export interface Backend {
  policy(): Policy;
  /** The shadow (candidate) policy deciding too, or null (docs/server.md, "Shadow"). */
  shadow(): Shadow | null;
  /** Sends the Decided of a request to the primary, to be recorded; resolves when they are durable. */
  audit(entries: Decided[]): Promise<AuditAck>;
  /** Counter window sums from the primary (spec section 8), read at one `now` for the whole turn. */
  sums(refs: [counter: string, digest: string, key: (string | number)[]][]): Promise<{ now: number; sums: number[] }>;
  /** The audit log's seal, for the counter values a record must not show (src/audit/counted-seal.ts). */
  readonly countedSeal: CountedSeal;
  rpc<M extends RpcMethod>(method: M, params: RpcParams[M], who: Principal): Promise<unknown>;
  /** null when ready; else why not (the 503 body of /readyz). */
  notReady(): { code: string; message: string } | null;
}

/** A request's share of the primary's acknowledgement. */
export interface AuditAck {
  /** seq of the first entry; the others follow. */
  seq: number;
  hashes: string[];
  /** The approval opened for each entry (escalate decisions), else null. */
  approvals: (string | null)[];
  /** Counters: entries whose commit found other sums, not recorded (their hash is ""); then
   *  `seqs` gives the seq of each entry (0 for those). */
  conflicts?: number[];
  seqs?: number[];
}

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Who may call the route (access.ts); none: no token needed. */
    roles?: RouteRoles;
  }
}

export function errorBody(code: string, message: string, extra?: Record<string, unknown>): string {
  return JSON.stringify({ error: { code, message, ...extra } });
}
