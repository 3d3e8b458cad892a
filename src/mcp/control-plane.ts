// Deciding with `tollgate serve` (docs/server.md): POST /v1/decide, and for an escalation long
// polls on GET /v1/approvals/{id}/wait, then redeems an approval with POST /v1/decide
// {action, approval_id}. Any answer but a decision (network error, timeout, 4xx,
// 5xx, a body that is not a decision) rejects: the call is refused, never forwarded.

import type { McpAction } from "./action.js";
import type { ApprovalStatus, CallDecision, Decider } from "./decider.js";

/** The control plane could not give a decision or an approval's state. */
export class ControlPlaneError extends Error {
  constructor(message: string, readonly status: number | null = null) {
    super(message);
    this.name = "ControlPlaneError";
  }
}

const DECIDE_TIMEOUT_MS = 30_000;
const EFFECTS = new Set(["allow", "deny", "escalate"]);
const STATES = new Set(["pending", "approved", "denied", "expired"]);

export class ControlPlaneDecider implements Decider {
  readonly mode = "control-plane";

  constructor(private readonly url: string, private readonly token: string, private readonly fetchImpl: typeof fetch = fetch) {}

  private async request(method: string, path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    let res: Response;
    try {
      res = await this.fetchImpl(this.url + path, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (signal.aborted && (signal.reason as Error)?.name !== "TimeoutError") throw signal.reason;
      throw new ControlPlaneError(`control plane ${this.url} unreachable: ${(err as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (res.status !== 200) {
      const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ControlPlaneError(`control plane answered ${res.status}${e?.code ? ` ${e.code}` : ""}${e?.message ? `: ${e.message}` : ""}`, res.status);
    }
    return parsed;
  }

  async decide(action: McpAction, approvalId?: string): Promise<CallDecision> {
    const body = approvalId === undefined ? { action } : { action, approval_id: approvalId };
    const d = (await this.request("POST", "/v1/decide", body, AbortSignal.timeout(DECIDE_TIMEOUT_MS))) as CallDecision | undefined;
    if (typeof d !== "object" || d === null || !EFFECTS.has(d.decision)) throw new ControlPlaneError("control plane answered something that is not a decision");
    if (d.decision === "escalate" && typeof d.approval_id !== "string") throw new ControlPlaneError("control plane escalated without an approval id");
    return d;
  }

  async wait(approvalId: string, options: { signal: AbortSignal; timeoutMs: number }): Promise<ApprovalStatus> {
    // The server answers at its own max-wait at the latest; the local timeout is a margin above.
    const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs + DECIDE_TIMEOUT_MS)]);
    const a = (await this.request("GET", `/v1/approvals/${encodeURIComponent(approvalId)}/wait?timeout=${Math.max(1, Math.round(options.timeoutMs))}ms`, undefined, signal)) as ApprovalStatus | undefined;
    if (typeof a !== "object" || a === null || !STATES.has(a.state) || a.id !== approvalId) throw new ControlPlaneError("control plane answered something that is not this approval");
    return a;
  }

  deniedWhateverArgs(): boolean {
    return false;
  }

  async close(): Promise<void> {}
}
