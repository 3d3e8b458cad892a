// The HTTP stack of `tollgate serve` alone, as a ceiling for bench/server.bench.ts: the same
// routes, `POST /v1/decide` and `POST /v1/decide/batch`, served the same way (node:cluster,
// SCHED_NONE, N workers accepting on one shared loopback socket, backlog 4096, the same
// node:http server options), answering a constant decision-like JSON per action (one per action
// of a batch). No auth, no engine, no audit, no IPC: what is left of the server's cost is HTTP
// and JSON.
//
//   node build/dist/bench/server-ceiling.js --stack fastify|node-http [--workers N] [--port N]
//     [--host ADDR] [--body-limit BYTES] [--max-batch N] [--log-level L]
//
// --stack fastify: fastify (the server's version) configured as src/server/app.ts does (same
// options, logger, bodyLimit, body JSON schemas; fastify parses and validates the body).
// --stack node-http: plain node:http; reads the body, JSON.parse, checks its shape, answers.
// Prints {"level":30,"msg":"listening","port":N,...} on stdout once every worker listens
// (as `tollgate serve` does); SIGTERM or SIGINT stops it.

import cluster from "node:cluster";
import { createServer } from "node:http";
import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";
import { parseArgs } from "node:util";
import Fastify, { LogController } from "fastify";

const STACKS = ["fastify", "node-http"] as const;
type Stack = (typeof STACKS)[number];

const { values: o } = parseArgs({
  options: {
    stack: { type: "string", default: "fastify" },
    workers: { type: "string", default: "2" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    // The defaults of `tollgate serve` (src/server/config.ts) and of the bench's server.
    "body-limit": { type: "string", default: String(1024 * 1024) },
    "max-batch": { type: "string", default: "10000" },
    "log-level": { type: "string", default: "warn" },
  },
});

function fail(message: string): never {
  process.stderr.write(`server-ceiling: ${message}\n`);
  process.exit(2);
}

const stack = o.stack as Stack;
if (!STACKS.includes(stack)) fail(`--stack: expected one of ${STACKS.join(", ")}`);
const workers = Number(o.workers);
const port = Number(o.port);
const bodyLimit = Number(o["body-limit"]);
const maxBatch = Number(o["max-batch"]);
if (!Number.isInteger(workers) || workers < 1) fail("--workers: expected a positive integer");
if (!Number.isInteger(port) || port < 0 || port > 65535) fail("--port: expected 0..65535");
if (!Number.isInteger(bodyLimit) || bodyLimit < 1024) fail("--body-limit: expected at least 1024 bytes");
if (!Number.isInteger(maxBatch) || maxBatch < 1) fail("--max-batch: expected a positive integer");
const logLevel = o["log-level"]!;

// Timeouts: the defaults of `tollgate serve` (--request-timeout 10s, --keep-alive-timeout 72s),
// turned into node:http options as src/server/app.ts does.
const REQUEST_TIMEOUT_MS = 10_000;
const HTTP_OPTIONS = {
  requestTimeout: REQUEST_TIMEOUT_MS,
  headersTimeout: Math.min(REQUEST_TIMEOUT_MS, 60_000),
  keepAliveTimeout: 72_000,
  connectionsCheckingInterval: Math.max(250, Math.min(5000, Math.floor(REQUEST_TIMEOUT_MS / 4))),
};

// The size and shape of a Tollgate answer for the generated-100 policy (about 280 bytes).
const HEX = "9b14d00589605d0104240f028e4c5d9ed6c5dcbfefab406446048980217ac8c7";
const DECISION_JSON = `{"decision":"allow","rule":"db.replica-writers","reason":null,"undetermined":false,"policy":"generated-100","policy_hash":"${HEX}","audit_id":"${HEX}","audit_seq":1}`;
const BATCH_HEAD = `{"policy":"generated-100","policy_hash":"${HEX}","decisions":[`;

function batchJson(n: number): string {
  if (n === 0) return `${BATCH_HEAD}]}`;
  return `${BATCH_HEAD}${`${DECISION_JSON},`.repeat(n - 1)}${DECISION_JSON}]}`;
}

interface Ready {
  t: "ceiling-ready";
  port: number;
  version: string;
}

// --- fastify ------------------------------------------------------------------------------------

async function fastifyWorker(): Promise<Server> {
  const app = Fastify({
    logger: logLevel === "silent" ? false : { level: logLevel, base: { pid: process.pid, role: "ceiling" } },
    logController: new LogController({ disableRequestLogging: logLevel !== "debug" && logLevel !== "trace" }),
    bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    serverFactory: (handler: RequestListener) => createServer(HTTP_OPTIONS, handler),
  });
  const actionSchema = { type: "object" };
  app.post("/v1/decide", {
    schema: { body: { type: "object", required: ["action"], additionalProperties: false, properties: { action: actionSchema } } },
  }, async (_req, reply) => {
    reply.type("application/json");
    return DECISION_JSON;
  });
  app.post("/v1/decide/batch", {
    schema: {
      body: {
        type: "object",
        required: ["actions"],
        additionalProperties: false,
        properties: { actions: { type: "array", maxItems: maxBatch, items: actionSchema } },
      },
    },
  }, async (req, reply) => {
    reply.type("application/json");
    return batchJson((req.body as { actions: unknown[] }).actions.length);
  });
  await app.listen({ port, host: o.host!, backlog: 4096 });
  process.send!({ t: "ceiling-ready", port: (app.server.address() as { port: number }).port, version: app.version } satisfies Ready);
  return app.server;
}

// --- node:http ----------------------------------------------------------------------------------

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, JSON.stringify({ error: { code, message } }));
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function onBody(res: ServerResponse, batch: boolean, text: string): void {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return error(res, 400, "bad_request", "malformed JSON");
  }
  if (!isObject(body)) return error(res, 400, "invalid_request", "the body must be an object");
  if (!batch) {
    if (!isObject(body.action) || Object.keys(body).length !== 1) return error(res, 400, "invalid_request", "expected {\"action\": {...}}");
    return send(res, 200, DECISION_JSON);
  }
  const actions = body.actions;
  if (!Array.isArray(actions) || Object.keys(body).length !== 1 || actions.length > maxBatch || !actions.every(isObject)) {
    return error(res, 400, "invalid_request", "expected {\"actions\": [{...}, ...]}");
  }
  send(res, 200, batchJson(actions.length));
}

function nodeHttpHandler(req: IncomingMessage, res: ServerResponse): void {
  const q = req.url!.indexOf("?");
  let path = q < 0 ? req.url! : req.url!.slice(0, q);
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  const batch = path === "/v1/decide/batch";
  if (!batch && path !== "/v1/decide") {
    req.resume();
    return error(res, 404, "not_found", `no route ${req.method} ${path}`);
  }
  if (req.method !== "POST") {
    req.resume();
    res.setHeader("allow", "POST");
    return error(res, 405, "method_not_allowed", `${req.method} is not allowed on this path (allowed: POST)`);
  }
  if (!/^application\/json\s*(;|$)/i.test(req.headers["content-type"] ?? "")) {
    req.resume();
    return error(res, 415, "unsupported_media_type", "expected Content-Type: application/json");
  }
  if (Number(req.headers["content-length"] ?? 0) > bodyLimit) {
    req.resume();
    return error(res, 413, "payload_too_large", "request body is too large");
  }
  req.setEncoding("utf8");
  let text = "";
  let size = 0;
  req.on("data", (chunk: string) => {
    size += Buffer.byteLength(chunk);
    if (size > bodyLimit) {
      if (!res.headersSent) error(res, 413, "payload_too_large", "request body is too large");
      req.destroy();
      return;
    }
    text += chunk;
  });
  req.on("end", () => {
    if (size <= bodyLimit) onBody(res, batch, text);
  });
}

function nodeHttpWorker(): Promise<Server> {
  const server = createServer(HTTP_OPTIONS, nodeHttpHandler);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, host: o.host!, backlog: 4096 }, () => {
      process.send!({ t: "ceiling-ready", port: (server.address() as { port: number }).port, version: process.version } satisfies Ready);
      resolve(server);
    });
  });
}

// --- processes ----------------------------------------------------------------------------------

function primary(): void {
  // As src/server/primary.ts: every worker accepts on the shared socket itself.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let ready = 0;
  let stopping = false;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on("message", (_w, msg: Ready) => {
    if (msg?.t !== "ceiling-ready" || ++ready !== workers) return;
    const url = `http://${o.host!.includes(":") ? `[${o.host}]` : o.host}:${msg.port}`;
    process.stdout.write(JSON.stringify({ level: 30, time: Date.now(), msg: "listening", stack, version: msg.version, host: o.host, port: msg.port, url, workers }) + "\n");
  });
  const stop = (code: number) => {
    if (stopping) return;
    stopping = true;
    process.exitCode = code;
    const live = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined && !w.isDead());
    if (live.length === 0) process.exit(code);
    for (const w of live) w!.process.kill("SIGTERM");
  };
  cluster.on("exit", (w, code, signal) => {
    if (!stopping) {
      process.stdout.write(JSON.stringify({ level: 50, time: Date.now(), msg: "worker exited", worker: w.id, code, signal }) + "\n");
      stop(1);
    }
    if (Object.values(cluster.workers ?? {}).every((x) => x === undefined || x.isDead())) process.exit();
  });
  process.on("SIGTERM", () => stop(0));
  process.on("SIGINT", () => stop(0));
}

if (cluster.isPrimary) {
  primary();
} else {
  (stack === "fastify" ? fastifyWorker() : nodeHttpWorker()).catch((err: unknown) => {
    process.stderr.write(`server-ceiling worker: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
