// `audit.redact` (spec section 2): present values at the given paths become "[redacted]".

export const REDACTED = "[redacted]";

/**
 * The action with every present value at `paths` replaced by "[redacted]". The input is never
 * modified: only the objects on a redacted path are copied. Paths address object keys only; a
 * path through an array, a scalar or a missing key redacts nothing. `null` is a present value.
 */
export function redact(action: unknown, paths: readonly (readonly string[])[]): unknown {
  let out = action;
  for (const path of paths) if (path.length > 0) out = redactPath(out, path, 0);
  return out;
}

function redactPath(node: unknown, path: readonly string[], i: number): unknown {
  if (node === null || typeof node !== "object" || Array.isArray(node)) return node;
  const key = path[i]!;
  if (!Object.prototype.hasOwnProperty.call(node, key)) return node;
  const value = (node as Record<string, unknown>)[key];
  if (value === undefined) return node;
  const replaced = i === path.length - 1 ? REDACTED : redactPath(value, path, i + 1);
  if (replaced === value) return node;
  const copy: Record<string, unknown> = { ...(node as Record<string, unknown>) };
  Object.defineProperty(copy, key, { value: replaced, enumerable: true, writable: true, configurable: true });
  return copy;
}
