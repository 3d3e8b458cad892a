// Which of the paths a policy reads an audit record cannot give back: the recorded policy's
// `audit.redact` replaced the value at a path (or at a prefix of it) by "[redacted]", so a
// decision that reads it is not the one the candidate would have taken on the real action.
//
// The record does not say which paths its policy redacted, only the text "[redacted]" where it
// did; an action whose own value was the string "[redacted]" is counted too (it cannot be told
// apart, and it is rare).

import { REDACTED } from "../redact.js";

/** A field path as written in a policy: `args.amount`, `args["file.name"]`. */
export function pathText(path: readonly string[]): string {
  let out = "";
  for (const seg of path) {
    if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export class RedactedPaths {
  /** The distinct paths, and their texts. */
  private readonly paths: (readonly string[])[];
  readonly texts: string[];

  constructor(fields: Iterable<readonly (readonly string[])[]>) {
    const seen = new Map<string, readonly string[]>();
    for (const list of fields) for (const p of list) seen.set(JSON.stringify(p), p);
    this.paths = [...seen.values()];
    this.texts = this.paths.map(pathText);
  }

  /** Indexes (into `texts`) of the paths whose value, or a prefix's, is "[redacted]" in `action`. */
  find(action: unknown): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.paths.length; i++) if (hitsRedacted(action, this.paths[i]!)) out.push(i);
    return out;
  }
}

function hitsRedacted(action: unknown, path: readonly string[]): boolean {
  let node = action;
  for (let i = 0; i < path.length; i++) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) return false;
    if (!Object.prototype.hasOwnProperty.call(node, path[i]!)) return false;
    node = (node as Record<string, unknown>)[path[i]!];
    if (node === REDACTED) return true;
  }
  return false;
}
