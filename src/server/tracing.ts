// OpenTelemetry traces of decisions (docs/server.md, "Traces"): with `--otel` (or an
// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT in the environment) each HTTP
// worker starts @opentelemetry/sdk-node — its exporter, protocol, sampler and resource come from
// the standard OTEL_* variables — and every decide request gets a span: `tollgate.decide` (or
// `tollgate.decide_batch`) with the decision, rule, policy, policy hash and audit id, a child of
// the caller's span when the request carries a W3C `traceparent`. Off (the default), nothing is
// loaded and a request pays one null check.

import type * as OtelApi from "@opentelemetry/api";
import type { Span, Tracer } from "@opentelemetry/api";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Decision } from "../decision.js";

/** The span of the request being served, when tracing is on. */
declare module "fastify" {
  interface FastifyRequest {
    span: Span | null;
  }
}

export interface Tracing {
  readonly tracer: Tracer;
  readonly api: typeof OtelApi;
  /** Flushes the spans not yet exported and stops the SDK. */
  shutdown(): Promise<void>;
}

/** Whether traces are on: `--otel`, or an OTLP endpoint in the environment (and OTEL_SDK_DISABLED not true). */
export function tracingWanted(flag: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === "true") return false;
  return flag || Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT) || Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

export interface TracingOptions {
  /** Replaces the exporter the environment names (tests: an in-memory exporter's processor). */
  spanProcessors?: unknown[];
}

/** Starts the OpenTelemetry SDK in this process (loaded only now: free when off). */
export async function startTracing(opts: TracingOptions = {}): Promise<Tracing> {
  const [{ NodeSDK }, api] = await Promise.all([import("@opentelemetry/sdk-node"), import("@opentelemetry/api")]);
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? "tollgate",
    // No automatic instrumentation: the decide spans are the product's; http/fastify spans would
    // double the cost of every request for what the load balancer already measures.
    instrumentations: [],
    ...(opts.spanProcessors !== undefined && { spanProcessors: opts.spanProcessors as never }),
  });
  sdk.start();
  return { tracer: api.trace.getTracer("tollgate"), api, shutdown: () => sdk.shutdown() };
}

/**
 * Adds the decide spans to `app`: opened when a decide request arrives (a child of its
 * `traceparent`), given the decision by the route (noteDecision, noteBatch), closed with the
 * response's status. Registered only when tracing is on.
 */
export function traceDecisions(app: FastifyInstance, { tracer, api }: Tracing): void {
  const names: Record<string, string> = { "/v1/decide": "tollgate.decide", "/v1/decide/batch": "tollgate.decide_batch" };
  app.addHook("onRequest", async (req) => {
    const name = names[req.routeOptions.url ?? ""];
    if (name === undefined) return;
    const parent = api.propagation.extract(api.context.active(), req.headers);
    req.span = tracer.startSpan(name, { kind: api.SpanKind.SERVER, attributes: { "http.request.method": req.method, "url.path": req.routeOptions.url } }, parent);
  });
  app.addHook("onError", async (req, _reply, err) => {
    if (req.span === null) return;
    req.span.recordException(err);
    req.span.setStatus({ code: api.SpanStatusCode.ERROR, message: err.message });
  });
  app.addHook("onResponse", async (req, reply) => {
    if (req.span === null) return;
    req.span.setAttribute("http.response.status_code", reply.statusCode);
    if (reply.statusCode >= 500) req.span.setStatus({ code: api.SpanStatusCode.ERROR });
    req.span.end();
    req.span = null;
  });
}

/** The decision of a decide request, on its span (nothing when tracing is off). */
export function noteDecision(req: FastifyRequest, d: Decision, policyHash: string, auditId: string, auditSeq: number, approvalId: string | null): void {
  const span = req.span;
  if (span === null) return;
  span.setAttributes({
    "tollgate.decision": d.decision,
    "tollgate.rule": d.rule ?? "(default)",
    "tollgate.undetermined": d.undetermined,
    "tollgate.policy": d.policy,
    "tollgate.policy_hash": policyHash,
    "tollgate.audit_id": auditId,
    "tollgate.audit_seq": auditSeq,
  });
  if (approvalId !== null) span.setAttribute("tollgate.approval_id", approvalId);
  if (d.error !== undefined) span.setAttribute("tollgate.error", d.error);
}

/** A batch's decisions on its span: how many of each, and its first and last audit records. */
export function noteBatch(req: FastifyRequest, ds: readonly Decision[], policyHash: string, first: { id: string; seq: number } | null, last: { id: string; seq: number } | null): void {
  const span = req.span;
  if (span === null) return;
  let allow = 0;
  let deny = 0;
  let escalate = 0;
  for (const d of ds) {
    if (d.decision === "allow") allow++;
    else if (d.decision === "deny") deny++;
    else escalate++;
  }
  span.setAttributes({ "tollgate.batch.size": ds.length, "tollgate.batch.allow": allow, "tollgate.batch.deny": deny, "tollgate.batch.escalate": escalate, "tollgate.policy_hash": policyHash });
  if (first !== null && last !== null) span.setAttributes({ "tollgate.audit_seq.first": first.seq, "tollgate.audit_seq.last": last.seq, "tollgate.audit_id.first": first.id, "tollgate.audit_id.last": last.id });
}
