// The counters benchmark's workload (bench/counters.bench.ts, issue 13): the 100-rule generated
// policy (bench/policies/generated-100.yaml) with 4 counters and 4 rules that read them, its
// actions spread over 1,000 agents and 4,000 sessions, and the same limits for
// rate-limiter-flexible. Limits are high enough that they rarely trigger, but every decision
// evaluates all four counters (the core computes each counter's contribution, key and value;
// the host reads four window sums and records what counted).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32 } from "../test/support/mulberry32.js";

export const AGENTS = 1000;
export const SESSIONS_PER_AGENT = 4;

/** The counters, as YAML (inserted before `rules:`). */
export const COUNTERS_YAML = `counters:
  calls_per_minute:
    per: [agent.id]
    window: 1m
  refunds_per_hour:
    per: [agent.id]
    window: 1h
    when: {tool: {suffix: .refund}}
  refunded_per_day:
    per: [agent.id]
    window: 1d
    when: {tool: {prefix: payments.}, args.amount: {exists: true, gte: 0}}
    sum: args.amount
  secrets_read:
    per: [session.id]
    window: 30d
    when: {tool: {prefix: fs.}, args.path: {exists: true, matches: "(?i)(\\\\.env$|\\\\.pem$|\\\\.key$|secret|/etc/shadow)"}}
`;

/** The limits (shared with the rate-limiter-flexible peer). */
export const LIMITS = {
  callsPerMinute: 1000,
  refundsPerHour: 500,
  refundedPerDay: 10_000_000,
  secretsPerSession: 100,
} as const;

/** The rules that read the counters (appended after the generated rules: a rule the generated
 *  policy decides by keeps deciding, e.g. global.anonymous for an action without an agent id,
 *  whose counter keys are unknown). */
export const COUNTER_RULES_YAML = `  - id: counters.calls-per-minute
    effect: deny
    reason: More than ${LIMITS.callsPerMinute} calls a minute
    when: {$calls_per_minute: {gt: ${LIMITS.callsPerMinute}}}
  - id: counters.refunds-per-hour
    effect: deny
    reason: More than ${LIMITS.refundsPerHour} refunds an hour
    when: {tool: {suffix: .refund}, $refunds_per_hour: {gt: ${LIMITS.refundsPerHour}}}
  - id: counters.refunded-per-day
    effect: escalate
    approver: finance-oncall
    reason: More than ${LIMITS.refundedPerDay} refunded today
    when: {tool: {prefix: payments.}, $refunded_per_day: {gt: ${LIMITS.refundedPerDay}}}
  - id: counters.secrets-read
    effect: deny
    reason: This session has read too many secrets
    when: {tool: {prefix: web.}, $secrets_read: {gt: ${LIMITS.secretsPerSession}}}
`;

/** The generated policy with the counters and their rules (named generated-100-counters). */
export function withCounters(policyYaml: string): string {
  const lines = policyYaml.split("\n");
  const at = lines.indexOf("rules:");
  if (at < 0) throw new Error("the policy has no top-level 'rules:' line");
  let end = lines.length;
  while (end > at && lines[end - 1]!.trim() === "") end--;
  // The generated file ends with its rules (the last top-level key).
  if (lines.slice(at + 1, end).some((l) => /^\S/.test(l))) throw new Error("the policy has top-level keys after 'rules:'");
  const out = [...lines.slice(0, at), ...COUNTERS_YAML.trimEnd().split("\n"), ...lines.slice(at, end), ...COUNTER_RULES_YAML.trimEnd().split("\n"), ""];
  return out.join("\n").replace(/^name: (.*)$/m, "name: $1-counters");
}

export interface CountersWorkload {
  /** generated-100.yaml as it is. */
  statelessYaml: string;
  /** The same with 4 counters and 4 rules reading them. */
  statefulYaml: string;
  /** The generated actions (templates). */
  templates: Record<string, unknown>[];
}

export function loadWorkload(root: string): CountersWorkload {
  const statelessYaml = readFileSync(join(root, "bench/policies/generated-100.yaml"), "utf8");
  const templates = readFileSync(join(root, "bench/policies/generated-100.actions.jsonl"), "utf8")
    .split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
  return { statelessYaml, statefulYaml: withCounters(statelessYaml), templates };
}

/** mulberry32: a small seeded generator. */
export const rng = mulberry32;

export const agentId = (k: number): string => `agent-${String(k).padStart(4, "0")}`;
export const sessionId = (k: number, j: number): string => `s-${String(k).padStart(4, "0")}-${j}`;

/**
 * The actions of the benchmark: the templates in order, each given one of AGENTS agent ids
 * (uniformly at random, seeded) and one of that agent's SESSIONS_PER_AGENT sessions; a template
 * without an agent id stays anonymous (the policy denies it; its counter keys are unknown).
 * `action(i)` makes a new object each time (as a request body parsed by a server would be: fresh,
 * in the cache), sharing the template's nested objects other than `agent` and `session`; the
 * choices of agent and session are drawn once, so that `action(i)` is the same action whenever
 * it is asked for.
 */
export class ActionStream {
  readonly agents: Uint16Array;
  readonly sessions: Uint8Array;

  constructor(readonly templates: readonly Record<string, unknown>[], readonly length: number, seed = 13) {
    const r = rng(seed);
    this.agents = new Uint16Array(length);
    this.sessions = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      this.agents[i] = Math.floor(r() * AGENTS);
      this.sessions[i] = Math.floor(r() * SESSIONS_PER_AGENT);
    }
  }

  action(i: number): Record<string, unknown> {
    const n = i % this.length;
    const t = this.templates[n % this.templates.length]!;
    const k = this.agents[n]!;
    const a: Record<string, unknown> = { ...t, session: { id: sessionId(k, this.sessions[n]!) } };
    const agent = t.agent as Record<string, unknown> | undefined;
    if (agent !== undefined && agent !== null && typeof agent === "object" && agent.id !== undefined) a.agent = { ...agent, id: agentId(k) };
    return a;
  }
}

/** What the four counters' `when` and `sum` say of an action, in plain code (for the peer). */
export interface Applicable {
  agent: string | null;
  session: string | null;
  refund: boolean;
  /** The amount a payments action adds to refunded_per_day, or null. */
  amount: number | null;
  secret: boolean;
}

const SECRET = /(\.env$|\.pem$|\.key$|secret|\/etc\/shadow)/i;

export function applicable(a: Record<string, unknown>): Applicable {
  const tool = typeof a.tool === "string" ? a.tool : "";
  const args = (a.args ?? {}) as Record<string, unknown>;
  const agent = (a.agent as { id?: unknown } | undefined)?.id;
  const session = (a.session as { id?: unknown } | undefined)?.id;
  const amount = args.amount;
  return {
    agent: typeof agent === "string" ? agent : null,
    session: typeof session === "string" ? session : null,
    refund: tool.endsWith(".refund"),
    amount: tool.startsWith("payments.") && typeof amount === "number" && amount >= 0 ? amount : null,
    secret: tool.startsWith("fs.") && typeof args.path === "string" && SECRET.test(args.path),
  };
}
