// Notifiers: told when an approval is created, so a human can look at it (docs/approvals.md).

import type { Approval } from "./approval.js";

export type Notifier = (approval: Approval) => void | Promise<void>;

export interface WebhookOptions {
  headers?: Record<string, string>;
  /** Per request; default 5000 ms. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Delivery failures (network, timeout, non-2xx) go here; default: a process warning. */
  onError?: (e: Error) => void;
}

/**
 * POSTs `{"type":"approval.created","approval":{...}}` as JSON to `url`. The returned notifier
 * never rejects: failures are reported through `onError`.
 */
export function webhookNotifier(url: string, opts: WebhookOptions = {}): Notifier {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const onError = opts.onError ?? ((e: Error) => process.emitWarning(e.message, "TollgateWebhookWarning"));
  return async (approval) => {
    try {
      const res = await doFetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...opts.headers },
        body: JSON.stringify({ type: "approval.created", approval }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      if (!res.ok) throw new Error(`answered HTTP ${res.status}`);
    } catch (err) {
      const cause = err as Error;
      const why = cause?.name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : (cause?.message ?? String(err));
      const e = new Error(`approval webhook ${url} for approval ${approval.id}: ${why}`, { cause: err });
      try {
        onError(e);
      } catch {
        // an onError that throws must not turn into an unhandled rejection
      }
    }
  };
}
