// The HTTP API of a worker (fastify): the instance (limits, timeouts, the HTTP parser's and the
// router's errors), bearer-token auth and roles (access.ts) in `onRequest`, error bodies, 404/405,
// and the route plugins, one per route family (routes/): decide, approvals, policy, operations;
// the approvals stream (stream.ts) and the web console's files (console.ts).

import { createServer, STATUS_CODES as HTTP_STATUS_TEXT } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import Fastify, { LogController } from "fastify";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { GateMetrics } from "../metrics/metrics.js";
import { allowed } from "./access.js";
import type { ServerConfig } from "./config.js";
import { MAX_PARAM_LENGTH, POLICY_BODY, STATUS_CODES } from "./constants.js";
import { errorBody } from "./http.js";
import type { Backend } from "./http.js";
import { RpcError } from "./ipc.js";
import { consoleRoutes } from "./console.js";
import { approvalRoutes } from "./routes/approvals.js";
import { decideRoutes } from "./routes/decide.js";
import { operationRoutes } from "./routes/operations.js";
import { policyRoutes } from "./routes/policy.js";
import { StreamHub, streamRoutes } from "./stream.js";
import type { Tokens } from "./tokens.js";
import { stdoutLog } from "./log-output.js";
import { traceDecisions, type Tracing } from "./tracing.js";

export { errorBody } from "./http.js";
export type { AuditAck, Backend } from "./http.js";
export { bindAgent, responseText } from "./routes/decide.js";

/** The routes, as [method, fastify path]; the OpenAPI test checks the document against these. */
export const ROUTES: readonly (readonly [string, string])[] = [
  ["POST", "/v1/decide"],
  ["POST", "/v1/decide/batch"],
  ["GET", "/v1/approvals"],
  ["GET", "/v1/approvals/:id"],
  ["GET", "/v1/approvals/:id/wait"],
  ["GET", "/v1/approvals/:id/records"],
  ["POST", "/v1/approvals/:id/approve"],
  ["POST", "/v1/approvals/:id/deny"],
  ["POST", "/v1/approvals/stream/ticket"],
  ["GET", "/v1/approvals/stream"],
  ["GET", "/v1/policy"],
  ["PUT", "/v1/policy"],
  ["GET", "/v1/policy/shadow"],
  ["PUT", "/v1/policy/shadow"],
  ["DELETE", "/v1/policy/shadow"],
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

export interface AppOptions {
  config: ServerConfig;
  tokens: Tokens;
  backend: Backend;
  metrics: GateMetrics;
  /** OpenTelemetry, when on: a span per decide request (tracing.ts). */
  tracing?: Tracing | null;
  /** The worker's approval streams (a hub that hears no events if none is given). */
  hub?: StreamHub;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Bearer-token auth (`onRequest`): a route with `roles` needs a token whose role is one of them
 * (401, 403); `req.principal` is its principal. Routes without roles need none.
 */
export function authHook(tokens: Tokens) {
  return (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
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
    if (!allowed(roles, who)) {
      reply.code(403).type("application/json").send(errorBody("forbidden", `role '${who.role}' may not ${req.method} ${req.routeOptions.url}`));
      return;
    }
    req.principal = who;
    done();
  };
}

/** Every error as `{error: {code, message}}`: an RpcError with its status, validation 400, others 4xx/500. */
export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
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
    const policy = req.routeOptions.url === "/v1/policy" || req.routeOptions.url === "/v1/policy/shadow";
    reply.code(415).type("application/json").send(errorBody("unsupported_media_type", policy ? POLICY_BODY : `${err.message}; the body must be JSON (Content-Type: application/json)`));
    return;
  }
  let status = typeof err.statusCode === "number" ? err.statusCode : 500;
  if (status < 400 || status > 599) status = 500;
  if (status >= 500) req.log.error({ err }, "request failed");
  const code = status === 500 ? "internal" : STATUS_CODES[status] ?? "error";
  reply.code(status).type("application/json").send(errorBody(code, status === 500 ? "internal error" : err.message));
}

export function buildApp({ config, tokens, backend, metrics, hub, tracing = null }: AppOptions): FastifyInstance {
  const logRequests = config.logLevel === "debug" || config.logLevel === "trace";
  const app = Fastify({
    // pino writes through the same guard as the Log lines: a closed stdout drops lines, never the worker.
    logger: config.logLevel === "silent" ? false : { level: config.logLevel, base: { pid: process.pid, role: "worker" }, stream: { write: stdoutLog().write } },
    logController: new LogController({ disableRequestLogging: !logRequests }),
    bodyLimit: config.bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    clientErrorHandler: answerClientError,
    // Raised by the router before a route is found (so before hooks and the error handler): a
    // URL that does not decode (`/v1/%zz`), a path parameter over maxParamLength.
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      const status = err.code === "FST_ERR_MAX_PARAM_LENGTH" ? 414 : typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
      const message = err.code === "FST_ERR_BAD_URL" ? "the URL is not valid (a malformed percent-encoding)" : err.code === "FST_ERR_MAX_PARAM_LENGTH" ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters` : err.message;
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
  app.decorateRequest("span", null);
  if (tracing !== null) traceDecisions(app, tracing);
  app.removeContentTypeParser("text/plain"); // fastify's default: only JSON here (415 before the body is read)
  // A JSON body must be UTF-8 (RFC 8259): bytes that are not would be read as U+FFFD, and an
  // action or a note would then be decided and recorded as something the client did not send.
  // Refused (400) instead; the text then goes to fastify's own JSON parser, unchanged.
  const parseJson = app.getDefaultJsonParser("error", "ignore");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (req, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      done(Object.assign(new Error("the body is not valid UTF-8"), { statusCode: 400 }), undefined);
      return;
    }
    parseJson(req, text, done);
  });

  app.addHook("onRequest", authHook(tokens));

  app.setErrorHandler(errorHandler);

  app.setNotFoundHandler((req, reply) => {
    const methods = allowedMethods(req.url);
    if (methods.length > 0) {
      reply.code(405).header("allow", methods.join(", ")).type("application/json").send(errorBody("method_not_allowed", `${req.method} is not allowed on this path (allowed: ${methods.join(", ")})`));
      return;
    }
    reply.code(404).type("application/json").send(errorBody("not_found", `no route ${req.method} ${req.url.split("?")[0]}`));
  });

  app.register(decideRoutes, { backend, metrics, maxBatch: config.maxBatch });
  app.register(approvalRoutes, { backend, maxWaitMs: config.maxWaitMs });
  app.register(policyRoutes, { backend });
  app.register(operationRoutes, { backend });
  app.register(streamRoutes, { backend, tokens, hub: hub ?? new StreamHub(() => undefined) });
  app.register(consoleRoutes);

  return app;
}
