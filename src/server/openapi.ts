// The OpenAPI 3.1 document of the control plane, served at GET /openapi.json.
// test/server/openapi.test.ts checks that its paths and methods are exactly the routes (ROUTES).

const json = (schema: unknown, description: string) => ({ description, content: { "application/json": { schema } } });
const err = (description: string) => json({ $ref: "#/components/schemas/Error" }, description);
const bearer = [{ bearer: [] }];
const common401 = { "401": err("Missing or unknown bearer token (WWW-Authenticate: Bearer)"), "403": err("The token's role may not do this") };
const idParam = { name: "id", in: "path", required: true, schema: { type: "string" }, description: "The approval id (a UUID)" };

/** POST /v1/approvals/{id}/approve and /deny: the same request and answers, another outcome. */
const resolveRoute = (summary: string) => ({
  post: {
    summary,
    security: bearer,
    description: "Roles: approver (for the approvers it names), admin.",
    parameters: [idParam],
    requestBody: { required: false, content: { "application/json": { schema: { type: "object", additionalProperties: false, properties: { note: { type: "string" } } } } } },
    responses: {
      "200": json({ $ref: "#/components/schemas/Approval" }, "The resolved approval (its transition is audited)"),
      "400": err("A body other than {note} (a note with a lone surrogate included)"),
      ...common401,
      "404": err("No such approval"),
      "409": err("Already resolved"),
      "503": err("audit_unavailable: the audit log cannot take the record; the approval stays pending"),
    },
  },
});

export const OPENAPI = {
  openapi: "3.1.0",
  info: {
    title: "Tollgate control plane",
    version: "1",
    description:
      "Decisions for AI agents' actions, human approvals for escalations, hot policy updates. Every decision is in the hash-chained audit log before it is answered. Errors are `{error: {code, message}}`.",
  },
  servers: [{ url: "http://127.0.0.1:8181" }],
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "A token whose SHA-256 is in tokens.yaml; its role is agent, approver or admin." } },
    schemas: {
      Error: {
        type: "object",
        required: ["error"],
        properties: {
          error: {
            type: "object",
            required: ["code", "message"],
            properties: { code: { type: "string" }, message: { type: "string" }, details: {} },
          },
        },
      },
      Action: {
        type: "object",
        description: "An action (spec section 1). For agent tokens, agent.id is set to the token's identity.",
        additionalProperties: true,
        properties: { tool: { type: "string" }, args: { type: "object" }, agent: { type: "object" }, session: { type: "object" } },
      },
      Decision: {
        type: "object",
        description: "The decision object of spec section 4, plus where it is in the audit log.",
        required: ["decision", "rule", "reason", "undetermined", "policy", "policy_hash", "audit_id", "audit_seq"],
        properties: {
          decision: { enum: ["allow", "deny", "escalate"] },
          rule: { type: ["string", "null"] },
          reason: { type: ["string", "null"] },
          undetermined: { type: "boolean" },
          approver: { type: "string" },
          timeout_ms: { type: "integer" },
          on_timeout: { enum: ["allow", "deny"] },
          error: { type: "string" },
          policy: { type: "string" },
          policy_hash: { type: "string", description: "SHA-256 of the policy the decision was made with" },
          audit_id: { type: "string", description: "The audit record's hash" },
          audit_seq: { type: "integer", description: "The audit record's seq" },
          approval_id: { type: "string", description: "For escalate: the approval to wait on. For a redemption: the approval redeemed" },
          approved_by: { type: "string", description: "A redemption that was allowed: who approved it" },
          redemption: {
            type: "object",
            description: "A redemption (`approval_id` in the request): the failed check (null when allowed) and the approval's audit records",
            properties: {
              approval_id: { type: "string" },
              check: { enum: ["not-found", "agent", "pending", "denied", "expired", "redeemed", "unbound", "digest", null] },
              decision_seq: { type: ["integer", "null"] },
              decision_hash: { type: ["string", "null"] },
              resolution_seq: { type: ["integer", "null"] },
              resolution_hash: { type: ["string", "null"] },
            },
          },
        },
      },
      Approval: {
        type: "object",
        required: ["id", "state", "approver", "policy", "policy_hash", "action", "decision", "decision_seq", "decision_hash", "on_timeout", "created", "expires", "outcome"],
        properties: {
          id: { type: "string" },
          state: { enum: ["pending", "approved", "denied", "expired"] },
          approver: { type: "string" },
          rule: { type: ["string", "null"] },
          policy: { type: "string" },
          policy_hash: { type: "string" },
          action: { type: "object", description: "The action, redacted" },
          decision: { type: "object", description: "The escalate decision" },
          decision_seq: { type: "integer" },
          decision_hash: { type: "string" },
          on_timeout: { enum: ["allow", "deny"] },
          created: { type: "string", format: "date-time" },
          expires: { type: "string", format: "date-time" },
          outcome: { enum: ["allow", "deny", null], description: "null while pending; approved → allow, denied → deny, expired → on_timeout" },
          resolved_by: { type: ["string", "null"] },
          note: { type: ["string", "null"] },
          resolved_at: { type: ["string", "null"] },
          resolution_seq: { type: ["integer", "null"] },
          resolution_hash: { type: ["string", "null"] },
          action_digest: { type: ["string", "null"], description: "SHA-256 of the RFC 8785 canonical JSON of the action as the agent sent it (agent.id bound to the token, not redacted); null for an approval made before binding" },
          agent: { type: ["string", "null"], description: "The agent it was issued to (action.agent.id)" },
          redeemed_at: { type: ["string", "null"], description: "When it was redeemed (once at most)" },
          redemption_seq: { type: ["integer", "null"] },
          redemption_hash: { type: ["string", "null"] },
        },
      },
      ShadowState: {
        type: "object",
        required: ["shadowing", "log"],
        properties: {
          shadowing: { type: "boolean" },
          policy: { type: "string" },
          policy_hash: { type: "string" },
          rules: { type: "integer" },
          log: { type: "string", description: "The disagreement log (JSON lines)" },
        },
      },
      PolicyProblem: {
        type: "object",
        properties: { file: { type: "string" }, line: { type: "integer" }, column: { type: "integer" }, message: { type: "string" } },
      },
    },
  },
  paths: {
    "/v1/decide": {
      post: {
        summary: "Decide one action",
        security: bearer,
        description:
          "Roles: agent, admin. Answered once the decision's audit record is durable. An action that cannot be recorded faithfully (a lone surrogate, nesting deeper than 512) is denied with `error`, unevaluated. `?explain=1` (admins only: it shows the policy's rules and operands) adds `explanation` (Policy.explain: every rule evaluated, each test's result and value seen, redacted; the closest allow rules of a deny), made after the decision is recorded and recording nothing. With `approval_id`: redeems that approval for the action instead of deciding it (docs/approvals.md, \"Redeeming\"): allow (with `approval_id`, `approved_by`, the escalating rule) only if it is approved, not expired, not yet redeemed, issued to this agent and approved for this very action (SHA-256 of its canonical JSON); else deny with `redemption.check` naming the failed check. Once per approval; recorded, linked to the approval's records; nothing is evaluated or counted.",
        parameters: [{ name: "explain", in: "query", schema: { enum: ["0", "1", "false", "true"] }, description: "1 or true: add `explanation` (admins; an agent token gets 403 and nothing is decided)" }],
        requestBody: { required: true, content: { "application/json": { schema: { type: "object", required: ["action"], additionalProperties: false, properties: { action: { $ref: "#/components/schemas/Action" }, approval_id: { type: "string", minLength: 1, maxLength: 200, description: "Redeem this approval for the action (once); Unicode text (a lone surrogate is a 400)" } } } } } },
        responses: {
          "200": json({ $ref: "#/components/schemas/Decision" }, "The decision (with ?explain=1, plus `explanation`: an object, or null for an action denied unevaluated)"),
          "400": err("Malformed JSON, a body that does not match the schema, or a bad `explain`"),
          ...common401,
          "413": err("Body over the limit (1 MiB)"),
          "503": err("The audit log is unavailable: nothing was decided"),
        },
      },
    },
    "/v1/decide/batch": {
      post: {
        summary: "Decide many actions (one engine call)",
        security: bearer,
        description: "Roles: agent, admin. Decisions in input order, each with its own audit record.",
        requestBody: {
          required: true,
          content: { "application/json": { schema: { type: "object", required: ["actions"], additionalProperties: false, properties: { actions: { type: "array", maxItems: 10000, items: { $ref: "#/components/schemas/Action" } } } } } },
        },
        responses: {
          "200": json({ type: "object", properties: { policy: { type: "string" }, policy_hash: { type: "string" }, decisions: { type: "array", items: { $ref: "#/components/schemas/Decision" } } } }, "The decisions, in order"),
          "400": err("Malformed JSON or a body that does not match the schema"),
          ...common401,
          "413": err("Body over the limit (1 MiB)"),
          "503": err("The audit log is unavailable"),
        },
      },
    },
    "/v1/approvals": {
      get: {
        summary: "List approvals",
        security: bearer,
        description: "Roles: approver (only approvals for the approvers the token names), admin (all).",
        parameters: [
          { name: "state", in: "query", schema: { enum: ["pending", "approved", "denied", "expired"] } },
          { name: "approver", in: "query", schema: { type: "string" } },
          { name: "limit", in: "query", schema: { type: "integer", default: 1000, maximum: 10000 } },
        ],
        responses: { "200": json({ type: "object", properties: { approvals: { type: "array", items: { $ref: "#/components/schemas/Approval" } } } }, "Approvals, oldest first"), "400": err("Bad query"), ...common401 },
      },
    },
    "/v1/approvals/{id}": {
      get: {
        summary: "Get an approval",
        security: bearer,
        description: "Agents: only approvals of their own actions (others are 404). Approvers: those of their approvers. Admin: all.",
        parameters: [idParam],
        responses: { "200": json({ $ref: "#/components/schemas/Approval" }, "The approval"), ...common401, "404": err("No such approval (or not yours)") },
      },
    },
    "/v1/approvals/{id}/records": {
      get: {
        summary: "An approval's audit records",
        security: bearer,
        description: "Roles: approver (the approvals of its approvers), admin. The records of the approval's escalation, resolution and redemption (once written), read from this instance's audit log and checked against the hashes the approval holds; a record this log does not hold (another instance sharing the approvals wrote it) has `record: null` and `missing` saying why.",
        parameters: [idParam],
        responses: {
          "200": json({ type: "object", properties: { records: { type: "array", items: { type: "object", required: ["kind", "seq", "hash", "record"], properties: { kind: { enum: ["escalation", "resolution", "redemption"] }, seq: { type: "integer" }, hash: { type: "string" }, record: { type: ["object", "null"], description: "the record as written" }, missing: { type: "string" } } } } } }, "The records, in that order"),
          ...common401,
          "403": err("Agents may not read audit records"),
          "404": err("No such approval (or not yours)"),
        },
      },
    },
    "/v1/approvals/{id}/wait": {
      get: {
        summary: "Long poll until an approval is resolved",
        security: bearer,
        description: "Answers as soon as the approval is approved, denied or expired (with its audit record written), or after `timeout` with the still-pending approval. Same visibility as GET /v1/approvals/{id}.",
        parameters: [idParam, { name: "timeout", in: "query", schema: { type: "string", default: "30s" }, description: "e.g. 30s, 500ms, 2m, or seconds; capped by the server's max-wait (default 60s)" }],
        responses: { "200": json({ $ref: "#/components/schemas/Approval" }, "The approval (state pending if the wait timed out)"), "400": err("Bad timeout"), ...common401, "404": err("No such approval (or not yours)") },
      },
    },
    "/v1/approvals/stream/ticket": {
      post: {
        summary: "A single-use ticket for the approvals stream",
        security: bearer,
        description: "Roles: approver, admin. For clients that cannot send an Authorization header on the stream (a browser's EventSource): open GET /v1/approvals/stream?ticket=TICKET within 30 s. A ticket works once, and only while the token it was issued to is still valid (docs/approvals.md, \"The console\").",
        responses: { "200": json({ type: "object", properties: { ticket: { type: "string" }, expires_in_ms: { type: "integer" }, now: { type: "string", description: "the server's clock" } } }, "The ticket"), ...common401, "429": err("Too many tickets waiting to be used") },
      },
    },
    "/v1/approvals/stream": {
      get: {
        summary: "Server-sent events of the approvals the caller may resolve",
        security: [{ bearer: [] }, {}],
        description:
          "Roles: approver (the approvals of the approvers it names), admin (all); agents get 403. Authenticated by `Authorization: Bearer TOKEN` or by `?ticket=` (POST /v1/approvals/stream/ticket). `text/event-stream`: first `snapshot` {now, pending, history, who} (the pending approvals, oldest first, and the `history` most recently resolved ones), then `approval` {type: created|resolved, approval} for each change (resolved: once its audit record is written), `ping` {now} every 15 s, and `bye` {code, reason} before the server ends the stream (code shutdown, revoked, overflow or error). An approval only moves forward (pending → resolved → with its record): keep the most advanced version of each. Works across workers: the primary sends each worker the events while it has streams open.",
        parameters: [
          { name: "ticket", in: "query", schema: { type: "string" }, description: "A stream ticket (single use), instead of the Authorization header" },
          { name: "history", in: "query", schema: { type: "integer", default: 50, maximum: 500 }, description: "How many resolved approvals the snapshot holds" },
        ],
        responses: {
          "200": { description: "The stream", content: { "text/event-stream": { schema: { type: "string" } } } },
          "400": err("Bad query"),
          "401": err("No token or ticket, an unknown token, or a ticket that is unknown, used, expired or whose token is no longer valid"),
          "403": err("The token's role may not watch the approvals queue (agents)"),
        },
      },
    },
    "/v1/approvals/{id}/approve": resolveRoute("Approve (outcome allow)"),
    "/v1/approvals/{id}/deny": resolveRoute("Deny (outcome deny)"),
    "/v1/policy": {
      get: {
        summary: "The policy being served",
        security: bearer,
        responses: { "200": json({ type: "object", properties: { policy: { type: "string" }, policy_hash: { type: "string" }, rules: { type: "integer" } } }, "Name and hash"), ...common401 },
      },
      put: {
        summary: "Replace the policy (YAML body)",
        security: bearer,
        description: "Role: admin. Validated by the engine, then swapped atomically in every worker before the answer; a bad policy is rejected and the old one keeps serving. Up to 16 MiB.",
        requestBody: { required: true, content: { "application/yaml": { schema: { type: "string" } } } },
        responses: {
          "200": json({ type: "object", properties: { policy: { type: "string" }, policy_hash: { type: "string" }, changed: { type: "boolean" } } }, "Installed (changed false: same hash as before)"),
          "400": err("Empty body"),
          ...common401,
          "415": err("Not a YAML content type"),
          "422": json({ $ref: "#/components/schemas/Error" }, "Invalid policy: error.message has one FILE:LINE:COL: error: MESSAGE per problem, error.details.problems the list"),
        },
      },
    },
    "/v1/policy/shadow": {
      get: {
        summary: "The shadow (candidate) policy, if any",
        security: bearer,
        description: "Role: admin.",
        responses: { "200": json({ $ref: "#/components/schemas/ShadowState" }, "Whether a candidate is shadowing, which, and where disagreements are written"), ...common401 },
      },
      put: {
        summary: "Shadow a candidate policy (YAML body)",
        security: bearer,
        description:
          "Role: admin. Every later decision is also taken by the candidate, with counters of its own (per worker, starting empty); the answers stay the live policy's. Disagreements are counted in tollgate_shadow_disagreements_total{live,shadow,rule} and written as JSON lines to the shadow log. Validated like PUT /v1/policy and installed in every worker before the answer; replaces any earlier candidate. Up to 16 MiB.",
        requestBody: { required: true, content: { "application/yaml": { schema: { type: "string" } } } },
        responses: {
          "200": json({ $ref: "#/components/schemas/ShadowState" }, "Shadowing"),
          "400": err("Empty body"),
          ...common401,
          "409": err("same_policy: the candidate is the policy being served"),
          "415": err("Not a YAML content type"),
          "422": json({ $ref: "#/components/schemas/Error" }, "Invalid policy: error.message has one FILE:LINE:COL: error: MESSAGE per problem, error.details.problems the list; the earlier candidate (if any) keeps shadowing"),
        },
      },
      delete: {
        summary: "Stop shadowing",
        security: bearer,
        description: "Role: admin. Nothing to stop is not an error.",
        responses: { "200": json({ $ref: "#/components/schemas/ShadowState" }, "Not shadowing (shadowing: false)"), ...common401 },
      },
    },
    "/metrics": {
      get: { summary: "Prometheus metrics (all workers aggregated)", security: bearer, responses: { "200": { description: "Prometheus text format", content: { "text/plain": { schema: { type: "string" } } } }, ...common401 } },
    },
    "/healthz": { get: { summary: "Liveness (no token)", responses: { "200": json({ type: "object" }, "Alive") } } },
    "/readyz": { get: { summary: "Readiness (no token)", responses: { "200": json({ type: "object" }, "Serving"), "503": err("Starting or shutting down (unavailable), or the audit log has failed (audit_unavailable)") } } },
    "/openapi.json": { get: { summary: "This document (no token)", responses: { "200": json({ type: "object" }, "OpenAPI 3.1") } } },
  },
} as const;
