// The approvals console (docs/approvals.md, "The console"): sign in with an approver token, the
// live queue of what it may resolve, approve or deny with a note, and the history. Everything
// comes from the API (api.ts); the token stays in this tab (sessionStorage), never in a URL
// the server sees.

import { render } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError, connect } from "./api.js";
import type { ConnectionState } from "./api.js";
import { agentOf, countdown, duration, fromSnapshot, historyOf, merge, pendingOf, toolOf } from "./queue.js";
import type { Approval, Approvals, Who } from "./queue.js";

const TOKEN_KEY = "tollgate.console.token";

/** Notes being written, by approval id: if someone else resolves the approval meanwhile, the writer is told. */
const drafts = new Map<string, string>();

interface Notice {
  id: number;
  kind: "ok" | "error" | "info";
  text: string;
}

/** A token in the URL's fragment (`#token=...`, never sent to a server): taken, then removed from the address bar. */
function tokenFromFragment(): string | null {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m === null) return null;
  history.replaceState(null, "", location.pathname + location.search);
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
}

function storedToken(): string | null {
  const t = tokenFromFragment();
  if (t !== null) {
    sessionStorage.setItem(TOKEN_KEY, t);
    return t;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function time(iso: string | null): string {
  if (iso === null) return "-";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function App() {
  const [token, setToken] = useState<string | null>(storedToken);
  const [signInError, setSignInError] = useState<string | null>(null);
  const [who, setWho] = useState<Who | null>(null);
  const [approvals, setApprovals] = useState<Approvals>(new Map());
  const [conn, setConn] = useState<{ state: ConnectionState; detail?: string }>({ state: "connecting" });
  const [notices, setNotices] = useState<Notice[]>([]);
  // Server clock minus this browser's: countdowns are the server's, whatever this clock says.
  const [offset, setOffset] = useState(0);
  // Ticks every second to redraw the countdowns (which read the clock when drawn).
  const [, setTick] = useState(0);
  const noticeId = useRef(0);

  const notify = useCallback((kind: Notice["kind"], text: string) => {
    const id = ++noticeId.current;
    setNotices((n) => [...n.slice(-4), { id, kind, text }]);
    if (kind !== "error") setTimeout(() => setNotices((n) => n.filter((x) => x.id !== id)), 8000);
  }, []);

  const signOut = useCallback((why?: string) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setWho(null);
    setApprovals(new Map());
    setSignInError(why ?? null);
  }, []);

  useEffect(() => {
    if (token === null) return;
    const c = connect(token, {
      snapshot: (s) => {
        setWho(s.who);
        setApprovals((known) => fromSnapshot(known, s));
      },
      event: (e) => {
        const a = e.approval;
        const draft = drafts.get(a.id);
        if (a.state !== "pending" && draft !== undefined && draft.trim() !== "") {
          drafts.delete(a.id);
          const by = a.state === "expired" ? "expired" : `was ${a.state} by ${a.resolved_by}`;
          notify("error", `${toolOf(a)} for ${agentOf(a)} ${by} before you sent your note (“${draft.trim().slice(0, 80)}”)`);
        }
        setApprovals((known) => merge(known, a));
      },
      clock: (ms) => setOffset(ms),
      state: (state, detail) => setConn({ state, detail }),
      refused: (message, status) =>
        signOut(status === 403 ? `This token may not approve: ${message}. Sign in with an approver token.` : `Sign-in failed: ${message}`),
    });
    return () => c.close();
  }, [token, signOut, notify]);

  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, []);

  const pending = useMemo(() => pendingOf(approvals), [approvals]);
  const resolved = useMemo(() => historyOf(approvals), [approvals]);

  useEffect(() => {
    document.title = token === null ? "Tollgate approvals" : `(${pending.length}) Tollgate approvals`;
  }, [pending.length, token]);

  const resolve = useCallback(async (a: Approval, verb: "approve" | "deny", note: string): Promise<boolean> => {
    if (token === null) return false;
    try {
      drafts.delete(a.id); // sent: no longer a draft
      const r = await api<Approval>(token, "POST", `/v1/approvals/${encodeURIComponent(a.id)}/${verb}`, note.trim() === "" ? undefined : { note });
      setApprovals((known) => merge(known, r));
      notify("ok", `${verb === "approve" ? "Approved" : "Denied"}: ${toolOf(a)} for ${agentOf(a)}`);
      return true;
    } catch (err) {
      const e = err as ApiError;
      if (e.status === 409) {
        const other = (e.details as { approval?: Approval } | undefined)?.approval;
        if (other !== undefined) setApprovals((known) => merge(known, other));
        notify("error", `Could not ${verb} ${toolOf(a)} for ${agentOf(a)}: ${e.message}`);
      } else if (e.status === 401) {
        signOut(`Your token is no longer valid: ${e.message}`);
      } else {
        notify("error", `Could not ${verb} ${toolOf(a)} for ${agentOf(a)}: ${e.message}`);
      }
      return false;
    }
  }, [token, notify, signOut]);

  if (token === null) {
    return <SignIn error={signInError} onToken={(t) => {
      sessionStorage.setItem(TOKEN_KEY, t);
      setSignInError(null);
      setConn({ state: "connecting" });
      setToken(t);
    }} />;
  }

  const serverNow = Date.now() + offset;
  return (
    <div class="app">
      <header class="top">
        <h1>Tollgate approvals</h1>
        <div class="status">
          <span class={`conn conn-${conn.state}`} role="status" title={conn.detail}>
            {conn.state === "live" ? "Live" : conn.state === "connecting" ? "Connecting…" : `Reconnecting…${conn.detail ? ` (${conn.detail})` : ""}`}
          </span>
          {who !== null && (
            <span class="who">
              Signed in as <b>{who.identity}</b> ({who.role === "admin" ? "admin: every approver" : who.approvers.join(", ")})
            </span>
          )}
          <button type="button" class="secondary" onClick={() => signOut()}>Sign out</button>
        </div>
      </header>
      <div class="notices" role="status" aria-live="polite">
        {notices.map((n) => (
          <p key={n.id} class={`notice notice-${n.kind}`}>
            <span>{n.text}</span>
            <button type="button" class="link" aria-label="Dismiss" onClick={() => setNotices((x) => x.filter((y) => y.id !== n.id))}>×</button>
          </p>
        ))}
      </div>
      <main class="columns">
        <section class="queue" aria-labelledby="queue-title">
          <h2 id="queue-title">Pending <span class="count">{pending.length}</span></h2>
          {pending.length === 0 ? (
            <p class="empty">{conn.state === "live" ? "Nothing is waiting for you." : "Loading…"}</p>
          ) : (
            pending.map((a) => <Pending key={a.id} a={a} now={serverNow} onResolve={resolve} />)
          )}
        </section>
        <section class="history" aria-labelledby="history-title">
          <h2 id="history-title">History</h2>
          {resolved.length === 0 ? <p class="empty">No resolved approvals yet.</p> : (
            <ol class="history-list">{resolved.map((a) => <Resolved key={a.id} a={a} token={token} />)}</ol>
          )}
        </section>
      </main>
    </div>
  );
}

function SignIn({ error, onToken }: { error: string | null; onToken(t: string): void }) {
  const [value, setValue] = useState("");
  return (
    <main class="signin">
      <h1>Tollgate approvals</h1>
      <form onSubmit={(e) => {
        e.preventDefault();
        if (value.trim() !== "") onToken(value.trim());
      }}>
        <label for="token">Approver token</label>
        <input id="token" name="token" type="password" autoComplete="off" autoFocus spellcheck={false} value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} aria-describedby={error ? "signin-error" : undefined} />
        <button type="submit">Sign in</button>
        {error !== null && <p id="signin-error" class="error" role="alert">{error}</p>}
        <p class="hint">The token stays in this browser tab (session storage) and is sent only in the Authorization header of the console's requests.</p>
      </form>
    </main>
  );
}

function Pending({ a, now, onResolve }: { a: Approval; now: number; onResolve(a: Approval, verb: "approve" | "deny", note: string): Promise<boolean> }) {
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState<"approve" | "deny" | null>(null);
  // Never more than the whole timeout: `now` is the server's clock as estimated from a round trip,
  // which a loaded machine can leave a second behind (a 6 s approval then showed 0:07).
  const left = Math.min(Date.parse(a.expires) - now, Date.parse(a.expires) - Date.parse(a.created));
  const overdue = left <= 0;
  const urgent = left < 60_000;
  const act = async (verb: "approve" | "deny") => {
    setBusy(verb);
    await onResolve(a, verb, note);
    setBusy(null);
  };
  const titleId = `t-${a.id}`;
  return (
    <article class={`card${urgent ? " urgent" : ""}`} data-id={a.id} aria-labelledby={titleId}>
      <header>
        <h3 id={titleId}><code>{toolOf(a)}</code> <span class="by">by <b>{agentOf(a)}</b></span></h3>
        <p class={`countdown${urgent ? " soon" : ""}`} aria-label={overdue ? "expired" : `expires in ${countdown(left)}, then ${a.on_timeout}`}>
          {overdue ? <>Expired — <b>{a.on_timeout}</b> on timeout</> : <>Expires in <b class="clock">{countdown(left)}</b>, then <b>{a.on_timeout}</b></>}
        </p>
      </header>
      <dl class="facts">
        <dt>Rule</dt><dd>{a.rule ?? "-"}</dd>
        <dt>Reason</dt><dd>{a.decision?.reason ?? "-"}</dd>
        <dt>Approver</dt><dd>{a.approver}</dd>
        <dt>Waiting</dt><dd title={time(a.created)}>{duration(now - Date.parse(a.created))}</dd>
      </dl>
      <details open>
        <summary>Action</summary>
        <pre class="action">{JSON.stringify(a.action, null, 2)}</pre>
      </details>
      <label class="note" for={`note-${a.id}`}>Note (optional)</label>
      <textarea id={`note-${a.id}`} rows={2} maxLength={10000} value={note} onInput={(e) => {
        const v = (e.target as HTMLTextAreaElement).value;
        drafts.set(a.id, v);
        setNote(v);
      }} disabled={busy !== null || overdue} />
      <div class="actions">
        <button type="button" class="approve" disabled={busy !== null || overdue} onClick={() => void act("approve")}>{busy === "approve" ? "Approving…" : "Approve"}</button>
        <button type="button" class="deny" disabled={busy !== null || overdue} onClick={() => void act("deny")}>{busy === "deny" ? "Denying…" : "Deny"}</button>
      </div>
    </article>
  );
}

/** One of an approval's audit records, as GET /v1/approvals/{id}/records answers. */
interface AuditRecord {
  kind: "escalation" | "resolution" | "redemption";
  seq: number;
  hash: string;
  record: unknown;
  missing?: string;
}

/** The approval's audit records, fetched when asked for (they are read from the server's log). */
function Records({ a, token }: { a: Approval; token: string }) {
  const [records, setRecords] = useState<AuditRecord[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const load = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ records: AuditRecord[] }>(token, "GET", `/v1/approvals/${encodeURIComponent(a.id)}/records`);
      setRecords(r.records);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="records">
      <button type="button" class="secondary show-records" disabled={busy} onClick={() => void load()}>
        {busy ? "Reading the audit log…" : records === null ? "Show the audit records" : "Read them again"}
      </button>
      {error !== null && <p class="notice notice-error" role="alert">Could not read the records: {error}</p>}
      {records !== null && records.map((r) => (
        <section class="record" key={`${r.kind}-${r.seq}`} data-kind={r.kind} data-seq={r.seq}>
          <h4>{r.kind} · seq {r.seq}</h4>
          {r.record === null ? <p class="hint">{r.missing}</p> : <pre class="action">{JSON.stringify(r.record, null, 2)}</pre>}
        </section>
      ))}
    </div>
  );
}

function Resolved({ a, token }: { a: Approval; token: string }) {
  return (
    <li class="resolved" data-id={a.id}>
      <div class="line">
        <span class={`badge state-${a.state}`}>{a.state}</span>
        <code>{toolOf(a)}</code> <span class="by">by <b>{agentOf(a)}</b></span>
      </div>
      <p class="meta">
        {a.state === "expired" ? <>expired at {time(a.resolved_at)}</> : <>{a.state} by <b class="resolver">{a.resolved_by}</b> at {time(a.resolved_at)}</>}
        {" "}· outcome <b>{a.outcome}</b> · rule {a.rule ?? "-"}
      </p>
      {a.note !== null && <p class="note-text">“{a.note}”</p>}
      <details class="audit">
        <summary>Audit records</summary>
        <dl>
          <dt>Escalation</dt><dd>seq <b>{a.decision_seq}</b> <code class="hash">{a.decision_hash}</code></dd>
          <dt>Resolution</dt><dd>{a.resolution_seq === null ? "not written yet" : <>seq <b>{a.resolution_seq}</b> <code class="hash">{a.resolution_hash}</code></>}</dd>
          {a.redemption_seq != null && <><dt>Redemption</dt><dd>seq <b>{a.redemption_seq}</b> <code class="hash">{a.redemption_hash}</code></dd></>}
        </dl>
        <Records a={a} token={token} />
        <p class="hint">On the server: <code>tollgate audit show AUDIT_DIR --seq {a.resolution_seq ?? a.decision_seq}</code></p>
        <details>
          <summary>Approval JSON</summary>
          <pre class="action">{JSON.stringify(a, null, 2)}</pre>
        </details>
      </details>
    </li>
  );
}

render(<App />, document.getElementById("app")!);
