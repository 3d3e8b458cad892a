// The console's calls to the API: JSON requests with the bearer token, and the approvals stream
// (server-sent events). EventSource cannot send an Authorization header, and a token in a URL
// ends up in logs, so each connection first gets a single-use ticket (POST, with the token) and
// opens the stream with it; a dropped stream is reopened with a new ticket, and starts again
// from a new snapshot.

import type { ApprovalEvent, Snapshot } from "./queue.js";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** One API call; resolves with the JSON body, rejects with ApiError (status 0: no answer). */
export async function api<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new ApiError(0, "network", `the server cannot be reached (${(err as Error).message})`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
    throw new ApiError(res.status, e?.code ?? "error", e?.message ?? `HTTP ${res.status}`, e?.details);
  }
  return json as T;
}

export type ConnectionState = "connecting" | "live" | "reconnecting";

export interface StreamHandlers {
  snapshot(s: Snapshot): void;
  event(e: ApprovalEvent): void;
  /**
   * How far the server's clock is ahead of this browser's (ms), from the ticket request: its
   * `now` against the middle of the round trip (off by at most half of it, however slow the
   * stream is to deliver).
   */
  clock(offsetMs: number): void;
  state(s: ConnectionState, detail?: string): void;
  /** The token is not (or no longer) good for the stream: sign out with this message. */
  refused(message: string, status: number): void;
}

/** How long without any event (heartbeats come every 15 s) before the stream is taken for dead. */
const SILENCE_MS = 45_000;

/** Keeps an approvals stream open until `close()`. */
export function connect(token: string, on: StreamHandlers): { close(): void } {
  let closed = false;
  let source: EventSource | null = null;
  let attempt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let watchdog: ReturnType<typeof setTimeout> | undefined;

  const alive = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => drop("no heartbeat from the server for 45 s"), SILENCE_MS);
  };
  const drop = (why: string) => {
    source?.close();
    source = null;
    clearTimeout(watchdog);
    if (closed) return;
    attempt++;
    const delay = Math.min(15_000, 500 * 2 ** Math.min(attempt, 5)) * (0.75 + Math.random() / 2);
    on.state("reconnecting", why);
    retryTimer = setTimeout(open, delay);
  };
  const parse = (ev: Event): unknown => JSON.parse((ev as MessageEvent<string>).data);

  async function open(): Promise<void> {
    if (closed) return;
    on.state(attempt === 0 ? "connecting" : "reconnecting");
    let ticket: string;
    try {
      const sent = Date.now();
      const t = await api<{ ticket: string; now: string }>(token, "POST", "/v1/approvals/stream/ticket");
      const received = Date.now();
      ticket = t.ticket;
      const server = Date.parse(t.now);
      if (Number.isFinite(server)) on.clock(server - (sent + received) / 2);
    } catch (err) {
      const e = err as ApiError;
      if (e.status === 401 || e.status === 403) {
        closed = true;
        on.refused(e.message, e.status);
      } else {
        drop(e.message);
      }
      return;
    }
    if (closed) return;
    const es = new EventSource(`/v1/approvals/stream?ticket=${encodeURIComponent(ticket)}`);
    source = es;
    alive();
    es.addEventListener("snapshot", (ev) => {
      alive();
      attempt = 0;
      on.snapshot(parse(ev) as Snapshot);
      on.state("live");
    });
    es.addEventListener("approval", (ev) => {
      alive();
      on.event(parse(ev) as ApprovalEvent);
    });
    es.addEventListener("ping", () => alive());
    es.addEventListener("bye", (ev) => {
      const { code, reason } = parse(ev) as { code: string; reason: string };
      if (code === "revoked") {
        closed = true;
        es.close();
        clearTimeout(watchdog);
        on.refused(reason, 401);
      } else {
        drop(reason);
      }
    });
    es.onerror = () => {
      if (source === es) drop("the connection to the server was lost");
    };
  }

  void open();
  return {
    close() {
      closed = true;
      clearTimeout(retryTimer);
      clearTimeout(watchdog);
      source?.close();
      source = null;
    },
  };
}
