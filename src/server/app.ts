// The HTTP API of a worker (fastify): routes, JSON schemas, bearer-token auth, error bodies.

import { createServer, STATUS_CODES as HTTP_STATUS_TEXT } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import Fastify, { LogController } from "fastify";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { canonicalDecision, canonicalParsedAction, NOT_JSON } from "../audit/format.js";
import { hasLoneSurrogate, recordableParsedText, unrecordableDecision } from "../audit/recordable.js";
import { redact } from "../audit/redact.js";
import type { Decision } from "../decision.js";
import type { Policy } from "../policy.js";
import type { GateMetrics } from "../metrics/metrics.js";
import type { ServerConfig } from "./config.js";
import { RpcError } from "./ipc.js";
import type { RpcMethod, WireEntry } from "./ipc.js";
import { OPENAPI } from "./openapi.js";
import { parseDuration } from "./config.js";
import type { Principal, Role, Tokens } from "./tokens.js";

/** What a worker's routes need from the rest of the process. */
export interface Backend {
  policy(): Policy;
  /** Sends audit entries to the primary; resolves when they are durable. */
  audit(entries: WireEntry[]): Promise<AuditAck>;
  rpc(method: RpcMethod, params: unknown, who: Principal): Promise<unknown>;
  /** null when ready; else why not (the 503 body of /readyz). */
  notReady(): { code: string; message: string } | null;
}

export interface AuditAck {
  /** seq of the first entry; the others follow. */
  seq: number;
  hashes: string[];
  /** The approval opened for each entry (escalate decisions), else null. */
  approvals: (string | null)[];
}

type RouteRoles = readonly Role[] | "any";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    roles?: RouteRoles;
  }
}

/** The routes, as [method, fastify path]; the OpenAPI test checks the document against these. */
export const ROUTES: readonly (readonly [string, string])[] = [
  ["POST", "/v1/decide"],
  ["POST", "/v1/decide/batch"],
  ["GET", "/v1/approvals"],
  ["GET", "/v1/approvals/:id"],
  ["GET", "/v1/approvals/:id/wait"],
  ["POST", "/v1/approvals/:id/approve"],
  ["POST", "/v1/approvals/:id/deny"],
  ["GET", "/v1/policy"],
  ["PUT", "/v1/policy"],
  ["GET", "/metrics"],
  ["GET", "/healthz"],
  ["GET", "/readyz"],
  ["GET", "/openapi.json"],
];

const ROUTE_PATTERNS = ROUTES.map(([method, path]) => ({
  method,
  re: new RegExp(`^${path.replace(/:[a-z]+/g, "[^/]+")}/?$`),
}));

/** The methods a path answers (for 405 and its Allow header). */
function allowedMethods(url: string): string[] {
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const out = new Set<string>();
  for (const r of ROUTE_PATTERNS) {
    if (r.re.test(path)) {
      out.add(r.method);
      if (r.method === "GET") out.add("HEAD");
    }
  }
  return [...out];
}

export function errorBody(code: string, message: string, extra?: Record<string, unknown>): string {
  return JSON.stringify({ error: { code, message, ...extra } });
}

const STATUS_CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  406: "not_acceptable",
  408: "request_timeout",
  409: "conflict",
  411: "length_required",
  413: "payload_too_large",
  414: "uri_too_long",
  415: "unsupported_media_type",
  422: "invalid_policy",
  429: "too_many_requests",
  431: "headers_too_large",
  503: "unavailable",
};

/**
 * Errors of the HTTP parser, before any request exists (a malformed request line, headers over
 * 16 KiB, a request not received within `request-timeout`): answered with the same error body
 * as everything else, then the connection is closed. As Node's own handler: nothing is written
 * if a response on this connection has already started.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  let status: number;
  let message: string;
  if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    status = 408;
    message = "the request was not received in time";
  } else if (err.code === "HPE_HEADER_OVERFLOW") {
    status = 431;
    message = "the request line and headers are larger than the server accepts";
  } else {
    status = 400;
    message = `malformed HTTP request${err.code?.startsWith("HPE_") ? ` (${err.code})` : ""}`;
  }
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = errorBody(STATUS_CODES[status]!, message);
    socket.write(`HTTP/1.1 ${status} ${HTTP_STATUS_TEXT[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(err);
}

// Decision objects are frozen and shared: their JSON text is computed once.
const decisionJson = new WeakMap<Decision, string>();

function jsonOf(d: Decision): string {
  let s = decisionJson.get(d);
  if (s === undefined) {
    s = JSON.stringify(d);
    if (Object.isFrozen(d)) decisionJson.set(d, s);
  }
  return s;
}

/** The decision object of the response: the engine's fields plus policy_hash, audit_id, audit_seq[, approval_id]. */
export function responseText(d: Decision, policyHash: string, hash: string, seq: number, approval: string | null): string {
  const j = jsonOf(d);
  return `${j.slice(0, -1)},"policy_hash":"${policyHash}","audit_id":"${hash}","audit_seq":${seq}${approval === null ? "" : `,"approval_id":${JSON.stringify(approval)}`}}`;
}

/**
 * `action.agent.id` := the token's identity, whatever the body said (agents cannot impersonate).
 * The action is this request's own parsed body, so it is changed in place.
 */
export function bindAgent(action: Record<string, unknown>, who: Principal): Record<string, unknown> {
  if (who.role !== "agent") return action; // admins may decide on behalf of any agent
  const agent = action.agent;
  if (agent !== null && typeof agent === "object" && !Array.isArray(agent)) {
    (agent as Record<string, unknown>).id = who.identity;
  } else {
    action.agent = { id: who.identity };
  }
  return action;
}

export function entryOf(policy: Policy, action: unknown, d: Decision, evalNs: number): WireEntry {
  return [canonicalDecision(d), canonicalParsedAction(redact(action, policy.redact)), policy.name, policy.hash, Math.max(0, Math.round(evalNs))];
}

const NOT_JSON_TEXT = JSON.stringify(NOT_JSON);

/**
 * Decides parsed actions (after `bindAgent`) and makes their audit entries. The canonical JSON
 * of each redacted action comes first: an action that has none (a lone surrogate, nesting
 * deeper than 512: `unrecordableReason`) would be recorded as "[not JSON]", so it is not
 * evaluated but denied with `error`, and that deny is recorded. The others are evaluated in one
 * engine call. `evalNs`: the evaluation time per evaluated action.
 */
export function decideParsed(policy: Policy, actions: readonly unknown[]): { decisions: Decision[]; entries: WireEntry[]; evalNs: number } {
  const n = actions.length;
  const texts = new Array<string | null>(n);
  let unrecordable = 0;
  for (let i = 0; i < n; i++) {
    const t = recordableParsedText(redact(actions[i], policy.redact)); // fast path: the text itself
    texts[i] = t;
    if (t === null) unrecordable++;
  }
  const t0 = process.hrtime.bigint();
  let decisions: Decision[];
  if (unrecordable === 0) {
    decisions = n === 1 ? [policy.evaluate(actions[0])] : policy.evaluateBatch(actions);
  } else {
    const evaluable = actions.filter((_, i) => texts[i] !== null);
    const decided = evaluable.length === 0 ? [] : evaluable.length === 1 ? [policy.evaluate(evaluable[0])] : policy.evaluateBatch(evaluable);
    const denied = unrecordableDecision(policy.name);
    decisions = new Array<Decision>(n);
    for (let i = 0, k = 0; i < n; i++) decisions[i] = texts[i] === null ? denied : decided[k++]!;
  }
  const evaluated = n - unrecordable;
  const evalNs = evaluated === 0 ? 0 : Number(process.hrtime.bigint() - t0) / evaluated;
  const each = Math.max(0, Math.round(evalNs));
  const entries = new Array<WireEntry>(n);
  for (let i = 0; i < n; i++) {
    const t = texts[i]!;
    entries[i] = [canonicalDecision(decisions[i]!), t ?? NOT_JSON_TEXT, policy.name, policy.hash, t === null ? 0 : each];
  }
  return { decisions, entries, evalNs };
}

const NOTHING_TO_AUDIT: Promise<AuditAck> = Promise.resolve({ seq: 0, hashes: [], approvals: [] });

const YAML_TYPES = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"];
const MAX_POLICY_BYTES = 16 * 1024 * 1024;
const POLICY_BODY = `the body must be the policy YAML (Content-Type: ${YAML_TYPES[0]})`;

export interface AppOptions {
  config: ServerConfig;
  tokens: Tokens;
  backend: Backend;
  metrics: GateMetrics;
}

export function buildApp({ config, tokens, backend, metrics }: AppOptions): FastifyInstance {
  const logRequests = config.logLevel === "debug" || config.logLevel === "trace";
  const app = Fastify({
    logger: config.logLevel === "silent" ? false : { level: config.logLevel, base: { pid: process.pid, role: "worker" } },
    logController: new LogController({ disableRequestLogging: !logRequests }),
    bodyLimit: config.bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    clientErrorHandler: answerClientError,
    // Raised by the router before a route is found (so before hooks and the error handler): a
    // URL that does not decode (`/v1/%zz`), a path parameter over maxParamLength.
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      const status = err.code === "FST_ERR_MAX_PARAM_LENGTH" ? 414 : typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
      const message = err.code === "FST_ERR_BAD_URL" ? "the URL is not valid (a malformed percent-encoding)" : err.code === "FST_ERR_MAX_PARAM_LENGTH" ? "a path parameter is longer than 200 characters" : err.message;
      reply.code(status).type("application/json").send(errorBody(STATUS_CODES[status] ?? "bad_request", message));
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
      const server = createServer({
        requestTimeout: config.requestTimeoutMs,
        headersTimeout: Math.min(config.requestTimeoutMs, 60_000),
        keepAliveTimeout: config.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.max(250, Math.min(5000, Math.floor(config.requestTimeoutMs / 4))),
      }, handler);
      return server;
    },
  });

  app.decorateRequest("principal", null);

  app.addHook("onRequest", (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const roles = req.routeOptions.config?.roles;
    if (roles === undefined) return done();
    const who = tokens.authenticate(req.headers.authorization);
    if (who === null) {
      const missing = req.headers.authorization === undefined;
      reply
        .code(401)
        .header("www-authenticate", missing ? 'Bearer realm="tollgate"' : 'Bearer realm="tollgate", error="invalid_token"')
        .type("application/json")
        .send(errorBody("unauthorized", missing ? "a bearer token is required (Authorization: Bearer TOKEN)" : "unknown bearer token"));
      return;
    }
    if (roles !== "any" && !roles.includes(who.role)) {
      reply.code(403).type("application/json").send(errorBody("forbidden", `role '${who.role}' may not ${req.method} ${req.routeOptions.url}`));
      return;
    }
    req.principal = who;
    done();
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof RpcError) {
      reply.code(err.status).type("application/json").send(errorBody(err.code, err.message, err.details === undefined ? undefined : { details: err.details }));
      return;
    }
    if (err.validation) {
      reply.code(400).type("application/json").send(errorBody("invalid_request", err.message));
      return;
    }
    if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      // Refused before the body is read: say what the route takes.
      const policy = req.routeOptions.url === "/v1/policy";
      reply.code(415).type("application/json").send(errorBody("unsupported_media_type", policy ? POLICY_BODY : `${err.message}; the body must be JSON (Content-Type: application/json)`));
      return;
    }
    let status = typeof err.statusCode === "number" ? err.statusCode : 500;
    if (status < 400 || status > 599) status = 500;
    if (status >= 500) req.log.error({ err }, "request failed");
    const code = status === 500 ? "internal" : STATUS_CODES[status] ?? "error";
    reply.code(status).type("application/json").send(errorBody(code, status === 500 ? "internal error" : err.message));
  });

  app.setNotFoundHandler((req, reply) => {
    const methods = allowedMethods(req.url);
    if (methods.length > 0) {
      reply.code(405).header("allow", methods.join(", ")).type("application/json").send(errorBody("method_not_allowed", `${req.method} is not allowed on this path (allowed: ${methods.join(", ")})`));
      return;
    }
    reply.code(404).type("application/json").send(errorBody("not_found", `no route ${req.method} ${req.url.split("?")[0]}`));
  });

  const agentRoles: RouteRoles = ["agent", "admin"];
  const approverRoles: RouteRoles = ["approver", "admin"];
  const actionSchema = { type: "object" };

  // --- decisions ---------------------------------------------------------------------------

  /**
   * Binds the agent, evaluates (one Wasm crossing for the lot), counts, and hands the audit
   * entries to the primary. Synchronous, so that while the handler awaits durability it holds
   * only the shared decision objects: the parsed body and the entries can be collected young.
   */
  const decide = (req: FastifyRequest, actions: Record<string, unknown>[]): { policy: Policy; decisions: readonly Decision[]; durable: Promise<AuditAck> } => {
    const who = req.principal!;
    for (const a of actions) bindAgent(a, who);
    const policy = backend.policy();
    const { decisions, entries, evalNs } = decideParsed(policy, actions);
    const unevaluated = unrecordableDecision(policy.name);
    for (let i = 0; i < decisions.length; i++) metrics.recordDecision(policy.name, decisions[i]!, decisions[i] === unevaluated ? 0 : evalNs);
    (req as { body: unknown }).body = undefined;
    return { policy, decisions, durable: entries.length === 0 ? NOTHING_TO_AUDIT : backend.audit(entries) };
  };

  app.post("/v1/decide", {
    config: { roles: agentRoles },
    schema: { body: { type: "object", required: ["action"], additionalProperties: false, properties: { action: actionSchema } } },
  }, async (req, reply) => {
    const { policy, decisions, durable } = decide(req, [(req.body as { action: Record<string, unknown> }).action]);
    const d = decisions[0]!;
    const ack = await durable;
    reply.type("application/json");
    return responseText(d, policy.hash, ack.hashes[0]!, ack.seq, ack.approvals[0] ?? null);
  });

  app.post("/v1/decide/batch", {
    config: { roles: agentRoles },
    schema: {
      body: {
        type: "object",
        required: ["actions"],
        additionalProperties: false,
        properties: { actions: { type: "array", maxItems: config.maxBatch, items: actionSchema } },
      },
    },
  }, async (req, reply) => {
    const { policy, decisions: ds, durable } = decide(req, (req.body as { actions: Record<string, unknown>[] }).actions);
    reply.type("application/json");
    if (ds.length === 0) return `{"policy":${JSON.stringify(policy.name)},"policy_hash":"${policy.hash}","decisions":[]}`;
    const ack = await durable;
    const parts: string[] = new Array(ds.length);
    for (let i = 0; i < ds.length; i++) parts[i] = responseText(ds[i]!, policy.hash, ack.hashes[i]!, ack.seq + i, ack.approvals[i] ?? null);
    return `{"policy":${JSON.stringify(policy.name)},"policy_hash":"${policy.hash}","decisions":[${parts.join(",")}]}`;
  });

  // --- approvals ---------------------------------------------------------------------------

  const idParams = { type: "object", required: ["id"], properties: { id: { type: "string", minLength: 1, maxLength: 200 } } };

  app.get("/v1/approvals", {
    config: { roles: approverRoles },
    schema: {
      querystring: {
        type: "object",
        additionalProperties: false,
        properties: {
          state: { type: "string", enum: ["pending", "approved", "denied", "expired"] },
          approver: { type: "string", maxLength: 200 },
          limit: { type: "string", pattern: "^[0-9]{1,5}$" },
        },
      },
    },
  }, async (req, reply) => {
    const q = req.query as { state?: string; approver?: string; limit?: string };
    const limit = Math.min(10_000, Math.max(1, q.limit === undefined ? 1000 : Number(q.limit)));
    const r = await backend.rpc("approval-list", { state: q.state, approver: q.approver, limit }, req.principal!);
    reply.type("application/json");
    return JSON.stringify({ approvals: r });
  });

  app.get("/v1/approvals/:id", { config: { roles: "any" }, schema: { params: idParams } }, async (req, reply) => {
    const r = await backend.rpc("approval-get", { id: (req.params as { id: string }).id }, req.principal!);
    reply.type("application/json");
    return JSON.stringify(r);
  });

  app.get("/v1/approvals/:id/wait", {
    config: { roles: "any" },
    schema: { params: idParams, querystring: { type: "object", additionalProperties: false, properties: { timeout: { type: "string", maxLength: 32 } } } },
  }, async (req, reply) => {
    const q = req.query as { timeout?: string };
    let timeoutMs = 30_000;
    if (q.timeout !== undefined) {
      // A bare number is seconds here (`?timeout=30` = `?timeout=30s`).
      const ms = /^\d+(\.\d+)?$/.test(q.timeout) ? Number(q.timeout) * 1000 : parseDuration(q.timeout);
      if (ms === null || !Number.isFinite(ms)) throw new RpcError(400, "invalid_request", "timeout: expected a duration like 30s, 500ms or 2m");
      timeoutMs = ms;
    }
    timeoutMs = Math.min(timeoutMs, config.maxWaitMs);
    const r = await backend.rpc("approval-wait", { id: (req.params as { id: string }).id, timeoutMs }, req.principal!);
    reply.type("application/json");
    return JSON.stringify(r);
  });

  for (const verb of ["approve", "deny"] as const) {
    app.post(`/v1/approvals/:id/${verb}`, { config: { roles: approverRoles }, schema: { params: idParams } }, async (req, reply) => {
      // The body is optional (`curl -X POST` sends none), so it is checked here rather than by a schema.
      const body = (req.body ?? {}) as { note?: unknown };
      if (typeof body !== "object" || Array.isArray(body) || Object.keys(body).some((k) => k !== "note") || (body.note !== undefined && (typeof body.note !== "string" || body.note.length > 10_000))) {
        throw new RpcError(400, "invalid_request", "the body, if any, must be {\"note\": \"...\"} (a string of at most 10000 characters)");
      }
      if (typeof body.note === "string" && hasLoneSurrogate(body.note)) {
        // It would be stored as U+FFFD: the record would not say what the approver wrote.
        throw new RpcError(400, "invalid_request", "note: contains a lone surrogate (\\ud800-\\udfff not in a pair), which is not Unicode text and cannot be stored or recorded as it is");
      }
      const r = await backend.rpc("approval-resolve", { id: (req.params as { id: string }).id, verb, note: (body.note as string | undefined) ?? null }, req.principal!);
      reply.type("application/json");
      return JSON.stringify(r);
    });
  }

  // --- policy ------------------------------------------------------------------------------

  app.get("/v1/policy", { config: { roles: "any" } }, async (_req, reply) => {
    const p = backend.policy();
    reply.type("application/json");
    return JSON.stringify({ policy: p.name, policy_hash: p.hash, rules: p.rules.length });
  });

  app.removeContentTypeParser("text/plain"); // fastify's default: only JSON here (415 before the body is read)

  // The policy route lives in a scope of its own: the only one that reads YAML (or text/plain)
  // bodies and the only one with the 16 MiB limit. Elsewhere those content types are refused
  // with 415 before the body is read, and every body is held to `body-limit`.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(YAML_TYPES, { parseAs: "string", bodyLimit: MAX_POLICY_BYTES }, (_req, body, done) => done(null, body));
    scope.put("/v1/policy", { config: { roles: ["admin"] }, bodyLimit: MAX_POLICY_BYTES }, async (req, reply) => {
      if (req.body !== undefined && typeof req.body !== "string") {
        throw new RpcError(415, "unsupported_media_type", POLICY_BODY);
      }
      if (typeof req.body !== "string" || req.body.trim() === "") {
        throw new RpcError(400, "bad_request", POLICY_BODY);
      }
      const r = await backend.rpc("put-policy", { yaml: req.body }, req.principal!);
      reply.type("application/json");
      return JSON.stringify(r);
    });
  });

  // --- operations --------------------------------------------------------------------------

  app.get("/metrics", { config: { roles: "any" } }, async (_req, reply) => {
    const text = (await backend.rpc("metrics", null, _req.principal!)) as string;
    reply.type("text/plain; version=0.0.4; charset=utf-8");
    return text;
  });

  app.get("/healthz", async (_req, reply) => {
    reply.type("application/json");
    return '{"status":"ok"}';
  });

  app.get("/readyz", async (_req, reply) => {
    const not = backend.notReady();
    reply.code(not === null ? 200 : 503).type("application/json");
    return not === null ? '{"status":"ready"}' : errorBody(not.code, not.message);
  });

  const openapiText = JSON.stringify(OPENAPI);
  app.get("/openapi.json", async (_req, reply) => {
    reply.type("application/json");
    return openapiText;
  });

  return app;
}
