// Lint, counters on redacted fields: a counter whose `per` or `sum` path is an `audit.redact`
// path, or lies under or over one. The audit records of its decisions carry, in `counted`, the
// key and amount each contribution was made with (the log rebuilds the counts from them after a
// restart), and the decision's `counters` value is a sum of those amounts: so those records hold
// what the redaction was to keep out of them (docs/semantics.md, "Counters").

import { isObject, parsePath, token } from "./manifest.js";
import type { Finding } from "./finding.js";

/** Whether one path is the other or lies under it. */
function overlaps(a: readonly string[], b: readonly string[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function redactedCounterFindings(manifest: unknown): Finding[] {
  const m = isObject(manifest) ? manifest : {};
  const audit = isObject(m.audit) ? m.audit : {};
  const redacted = (Array.isArray(audit.redact) ? audit.redact : []).flatMap((p) => {
    const path = typeof p === "string" ? parsePath(p) : null;
    return path === null ? [] : [{ text: p as string, segments: path.segments }];
  });
  if (redacted.length === 0) return [];
  const out: Finding[] = [];
  for (const [name, c] of Object.entries(isObject(m.counters) ? m.counters : {})) {
    if (!isObject(c)) continue;
    const reads: { text: string; pointer: string; what: string }[] = [];
    if (Array.isArray(c.per)) c.per.forEach((p, i) => typeof p === "string" && reads.push({ text: p, pointer: `/counters/${token(name)}/per/${i}`, what: "is keyed by" }));
    if (typeof c.sum === "string") reads.push({ text: c.sum, pointer: `/counters/${token(name)}/sum`, what: "sums" });
    for (const r of reads) {
      const path = parsePath(r.text);
      const hit = path === null ? undefined : redacted.find((x) => overlaps(x.segments, path.segments));
      if (hit === undefined) continue;
      out.push({
        family: "redacted-counter",
        pointer: r.pointer,
        at: "value",
        message: `counter '${name}' ${r.what} ${r.text}, which audit.redact ${hit.text === r.text ? "removes" : `(${hit.text}) covers`}: the audit records of its decisions still carry those values (in 'counted', to rebuild the counts after a restart, and in its 'counters' value)`,
      });
    }
  }
  return out;
}
