// Bearer tokens: tokens.yaml maps SHA-256 hashes of tokens to an identity and a role.
//
//   tokens:
//     <64 hex: sha256 of the token>: { identity: billing-bot, role: agent }
//     <64 hex>: { identity: alice, role: approver, approvers: [finance-oncall] }
//     <64 hex>: { identity: ops, role: admin }
//
// The server never stores a token, only its hash. A presented token is hashed and looked up by
// its hash, then the stored and computed 32-byte digests are compared with
// crypto.timingSafeEqual. The map lookup is keyed by the SHA-256 of the attacker's guess, so
// whatever its timing reveals is about that digest, not about any valid token.

import { hash as oneShotHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseYaml } from "../yaml-document.js";

export type Role = "agent" | "approver" | "admin";

export interface Principal {
  readonly identity: string;
  readonly role: Role;
  /** For approvers: the approver names (spec `approvers:` keys) whose approvals they may see and resolve. */
  readonly approvers: readonly string[];
}

/**
 * The caller of an RPC whose credential is in its parameters (a stream ticket), not a token:
 * the least of roles, with no approvers, so that nothing it may not do is allowed by mistake.
 */
export const ANONYMOUS: Principal = Object.freeze({ identity: "", role: "agent", approvers: Object.freeze([]) as readonly string[] });

const ROLES: readonly Role[] = ["agent", "approver", "admin"];

export function hashToken(token: string): string {
  return oneShotHash("sha256", token, "hex");
}

export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TokenError";
  }
}

export class Tokens {
  private byHash: Map<string, { digest: Buffer; principal: Principal }>;

  private constructor(entries: Map<string, { digest: Buffer; principal: Principal }>) {
    this.byHash = entries;
  }

  /** Takes the entries of `other` (a reloaded tokens file). */
  replace(other: Tokens): void {
    this.byHash = other.byHash;
  }

  get size(): number {
    return this.byHash.size;
  }

  static fromFile(path: string): Tokens {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new TokenError(`${path}: cannot read the tokens file: ${(err as Error).message}`);
    }
    return Tokens.fromYaml(text, path);
  }

  static fromYaml(text: string, file = "<tokens>"): Tokens {
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new TokenError(`${file}: ${(err as Error).message}`);
    }
    const tokens = (doc as { tokens?: unknown } | null)?.tokens;
    if (tokens === null || typeof tokens !== "object" || Array.isArray(tokens)) {
      throw new TokenError(`${file}: expected a 'tokens:' mapping of SHA-256 hex hashes to {identity, role}`);
    }
    const out = new Map<string, { digest: Buffer; principal: Principal }>();
    for (const [key, value] of Object.entries(tokens as Record<string, unknown>)) {
      const hash = key.toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hash)) throw new TokenError(`${file}: '${key}' is not a SHA-256 hex hash (use: tollgate serve --hash-token TOKEN)`);
      const v = value as { identity?: unknown; role?: unknown; approvers?: unknown } | null;
      if (v === null || typeof v !== "object") throw new TokenError(`${file}: ${key}: expected {identity, role}`);
      if (typeof v.identity !== "string" || v.identity === "") throw new TokenError(`${file}: ${key}: identity must be a non-empty string`);
      if (!ROLES.includes(v.role as Role)) throw new TokenError(`${file}: ${key}: role must be one of ${ROLES.join(", ")}`);
      const approvers = v.approvers ?? [];
      if (!Array.isArray(approvers) || !approvers.every((a) => typeof a === "string")) throw new TokenError(`${file}: ${key}: approvers must be a list of names`);
      if (v.role === "approver" && approvers.length === 0) throw new TokenError(`${file}: ${key}: an approver needs 'approvers: [names]'`);
      out.set(hash, {
        digest: Buffer.from(hash, "hex"),
        principal: Object.freeze({ identity: v.identity, role: v.role as Role, approvers: Object.freeze(approvers.slice() as string[]) }),
      });
    }
    return new Tokens(out);
  }

  /** The principal of the token whose SHA-256 is `hash` (hex), or null: a token still valid after a reload. */
  principalOfHash(hash: string): Principal | null {
    return this.byHash.get(hash)?.principal ?? null;
  }

  /** The SHA-256 (hex) of the bearer token of an `Authorization` header value, or null if it has none. */
  static headerTokenHash(header: string | undefined): string | null {
    if (header === undefined || header.length < 8 || header.length > 4096) return null;
    if (header.slice(0, 7).toLowerCase() !== "bearer ") return null;
    const token = header.slice(7).trim();
    return token === "" ? null : hashToken(token);
  }

  /** The principal of an `Authorization` header value, or null (missing, malformed or unknown). */
  authenticate(header: string | undefined): Principal | null {
    if (header === undefined || header.length < 8 || header.length > 4096) return null;
    if (header.slice(0, 7).toLowerCase() !== "bearer ") return null;
    const token = header.slice(7).trim();
    if (token === "") return null;
    const computed = oneShotHash("sha256", token, "buffer") as unknown as Buffer;
    const entry = this.byHash.get(computed.toString("hex"));
    if (entry === undefined) return null;
    return timingSafeEqual(entry.digest, computed) ? entry.principal : null;
  }
}
