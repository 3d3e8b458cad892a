// Durations in the host's own options and configuration files (tollgate serve, tollgate mcp, the
// approvals wait): `500ms`, `30s`, `2m`, `1h`, or a bare number of milliseconds. A policy's
// durations (timeouts, windows, `at`) are the core's to read (spec sections 2, 7, 8).

/** Milliseconds, or null for anything that is not such a duration (negative, NaN, other text). */
export function parseDuration(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : null;
  if (typeof value !== "string") return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? "ms";
  return Math.round(n * (unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000));
}
