// `tollgate serve` options (command line and YAML file), tokens.yaml, and start-up failures.

import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseServeArgs } from "../../src/server/config.js";
import type { ServerConfig } from "../../src/server/config.js";
import { hashToken, TokenError, Tokens } from "../../src/server/tokens.js";
import { root, runCli, tempDir, TOKENS, TOKENS_FILE } from "./helpers.js";

const cfg = (args: string[], cwd = "/srv"): ServerConfig => {
  const r = parseServeArgs(args, cwd);
  if (!("config" in r)) throw new Error("expected a config");
  return r.config;
};

describe("parseServeArgs", () => {
  it("applies defaults", () => {
    const c = cfg(["--policy", "p.yaml", "--audit-dir", "audit", "--tokens", "t.yaml"]);
    expect(c).toMatchObject({
      policy: "/srv/p.yaml",
      auditDir: "/srv/audit",
      tokens: "/srv/t.yaml",
      approvals: "/srv/audit/approvals.db",
      host: "127.0.0.1",
      port: 8181,
      workers: availableParallelism(),
      logLevel: "info",
      watch: true,
      persistPolicy: false,
      bodyLimit: 1048576,
      requestTimeoutMs: 10_000,
      maxWaitMs: 60_000,
      maxBatch: 10_000,
    });
  });

  it("takes a postgres:// URL for --approvals as it is (not as a path)", () => {
    const url = "postgres://tollgate:secret@db.internal:5432/tollgate?schema=approvals";
    expect(cfg(["--policy", "p.yaml", "--audit-dir", "audit", "--tokens", "t.yaml", "--approvals", url]).approvals).toBe(url);
    expect(cfg(["--policy", "p.yaml", "--audit-dir", "audit", "--tokens", "t.yaml", "--approvals", "postgresql://h/db"]).approvals).toBe("postgresql://h/db");
    expect(cfg(["--policy", "p.yaml", "--audit-dir", "audit", "--tokens", "t.yaml", "--approvals", "my.db"]).approvals).toBe("/srv/my.db");
  });

  it("reads a YAML config file (paths relative to it); the command line wins", () => {
    const dir = tempDir();
    const file = join(dir, "serve.yaml");
    writeFileSync(file, "policy: policies/p.yaml\naudit_dir: audit\ntokens: t.yaml\nport: 9000\nworkers: 3\nlog-level: warn\nwatch: false\nrequest_timeout: 5s\nmax_wait: 2m\n");
    const c = cfg(["--config", file, "--port", "0"]);
    expect(c).toMatchObject({ policy: join(dir, "policies/p.yaml"), auditDir: join(dir, "audit"), port: 0, workers: 3, logLevel: "warn", watch: false, requestTimeoutMs: 5000, maxWaitMs: 120_000 });
  });

  it("rejects what it cannot use, with a message naming the option", () => {
    const base = ["--policy", "p", "--audit-dir", "a", "--tokens", "t"];
    const bad: [string[], RegExp][] = [
      [["--audit-dir", "a", "--tokens", "t"], /--policy is required/],
      [[...base, "--port", "70000"], /--port/],
      [[...base, "--port", "x"], /--port/],
      [[...base, "--workers", "0"], /--workers/],
      [[...base, "--log-level", "loud"], /--log-level/],
      [[...base, "--request-timeout", "soon"], /--request-timeout/],
      [[...base, "--bogus"], /bogus/],
      [[...base, "extra"], /extra|positional/i],
    ];
    for (const [args, msg] of bad) expect(() => parseServeArgs(args), args.join(" ")).toThrow(msg);
    const dir = tempDir();
    writeFileSync(join(dir, "c.yaml"), "policy: p\nporty: 1\n");
    expect(() => parseServeArgs(["--config", join(dir, "c.yaml")])).toThrow(/unknown option 'porty'/);
    writeFileSync(join(dir, "d.yaml"), "- a\n");
    expect(() => parseServeArgs(["--config", join(dir, "d.yaml")])).toThrow(ConfigError);
    expect(() => parseServeArgs(["--config", join(dir, "missing.yaml")])).toThrow(ConfigError);
  });

  it("--hash-token", () => {
    expect(parseServeArgs(["--hash-token", "abc"])).toEqual({ hashToken: "abc" });
  });
});

describe("tokens", () => {
  const tokens = Tokens.fromFile(TOKENS_FILE);

  it("the example file's tokens hash to its keys", () => {
    expect(tokens.authenticate(`Bearer ${TOKENS.agent}`)).toMatchObject({ identity: "billing-bot", role: "agent" });
    expect(tokens.authenticate(`Bearer ${TOKENS.approver}`)).toMatchObject({ identity: "alice", role: "approver", approvers: ["finance-oncall", "finance-lead"] });
    expect(tokens.authenticate(`Bearer ${TOKENS.admin}`)).toMatchObject({ role: "admin" });
    expect(hashToken("abc")).toBe(createHash("sha256").update("abc").digest("hex"));
  });

  it("missing, malformed and unknown tokens authenticate nobody", () => {
    for (const h of [undefined, "", "Bearer", "Bearer  ", "Token x", `Basic ${TOKENS.agent}`, `Bearer ${TOKENS.agent}x`, `Bearer ${hashToken(TOKENS.agent)}`]) {
      expect(tokens.authenticate(h), String(h)).toBeNull();
    }
  });

  it("rejects bad files", () => {
    expect(() => Tokens.fromYaml("nope: 1")).toThrow(TokenError);
    expect(() => Tokens.fromYaml("tokens:\n  abc: { identity: a, role: agent }")).toThrow(/SHA-256/);
    const h = hashToken("x");
    expect(() => Tokens.fromYaml(`tokens:\n  ${h}: { identity: a, role: root }`)).toThrow(/role/);
    expect(() => Tokens.fromYaml(`tokens:\n  ${h}: { role: agent }`)).toThrow(/identity/);
    expect(() => Tokens.fromYaml(`tokens:\n  ${h}: { identity: a, role: approver }`)).toThrow(/approvers/);
  });
});

describe("tollgate serve start-up failures exit 2 with a clear message", () => {
  it("--hash-token prints the hash", async () => {
    const r = await runCli(["serve", "--hash-token", TOKENS.agent]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${hashToken(TOKENS.agent)}\n`);
  });

  it("missing option, bad policy, bad tokens file", async () => {
    const dir = tempDir();
    const missing = await runCli(["serve", "--audit-dir", dir, "--tokens", TOKENS_FILE]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/--policy is required/);
    writeFileSync(join(dir, "bad.yaml"), "tollgate: 1\nname: bad\nrules:\n  - id: r\n    effect: deny\n    efect: x\n");
    const bad = await runCli(["serve", "--policy", join(dir, "bad.yaml"), "--audit-dir", join(dir, "a"), "--tokens", TOKENS_FILE, "--port", "0"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/bad\.yaml:\d+:\d+: error: /);
    writeFileSync(join(dir, "tokens.yaml"), "tokens: 5\n");
    const tok = await runCli(["serve", "--policy", join(root, "test/fixtures/billing-agent-stateless.yaml"), "--audit-dir", join(dir, "a"), "--tokens", join(dir, "tokens.yaml"), "--port", "0"]);
    expect(tok.code).toBe(2);
    expect(tok.err).toMatch(/tokens/);
  });
});
