// A policy set with PUT /v1/policy lasts until the next reload from the file (SIGHUP, the file
// changing). With --persist-policy the PUT writes the accepted policy to the file first,
// atomically, so the two cannot drift; a PUT that cannot be written fails and changes nothing.

import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { http, root, startServer, tempDir, TOKENS_FILE } from "./helpers.js";
import type { Server } from "./helpers.js";

const ORIGINAL = readFileSync(join(root, "test/fixtures/billing-agent-stateless.yaml"), "utf8");
const STRICTER = ORIGINAL.replace("args.amount: { gt: 0, lte: 200 }", "args.amount: { gt: 0, lte: 10 }");
const YAML = { "content-type": "application/yaml" };

async function served(s: Server): Promise<string> {
  return ((await http(s, "GET", "/v1/policy", { token: "admin" })).body as { policy_hash: string }).policy_hash;
}

async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function start(args: string[]): Promise<{ s: Server; file: string }> {
  const dir = tempDir();
  const file = join(dir, "policy.yaml");
  writeFileSync(file, ORIGINAL);
  copyFileSync(TOKENS_FILE, join(dir, "tokens.yaml"));
  return { s: await startServer({ policy: file, tokens: join(dir, "tokens.yaml"), args }), file };
}

let server: Server | undefined;
afterEach(async () => {
  expect(await server?.stop()).toBe(0);
  server = undefined;
});

describe("PUT /v1/policy and the policy file", () => {
  it("without --persist-policy the file is left as it is, and a reload from it replaces the PUT policy", async () => {
    const { s, file } = await start(["--no-watch"]);
    server = s;
    const original = await served(s);
    const put = await http(s, "PUT", "/v1/policy", { token: "admin", body: STRICTER, headers: YAML });
    expect(put.status).toBe(200);
    expect(readFileSync(file, "utf8")).toBe(ORIGINAL);
    s.proc.kill("SIGHUP");
    await eventually(async () => (await served(s)) === original);
  });

  it("with --persist-policy the accepted policy is written to the file first, and survives a reload", async () => {
    const { s, file } = await start(["--persist-policy"]);
    server = s;
    const put = await http(s, "PUT", "/v1/policy", { token: "admin", body: STRICTER, headers: YAML });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ changed: true });
    expect(readFileSync(file, "utf8")).toBe(STRICTER);
    expect(readdirSync(dirname(file)).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    s.proc.kill("SIGHUP");
    await new Promise((r) => setTimeout(r, 500));
    expect(await served(s)).toBe(put.body.policy_hash);
    // Its own write (seen by the file watch) reloads nothing new.
    expect(s.lines.filter((l) => l.includes('"msg":"policy loaded"'))).toHaveLength(1);
    // A rejected policy is not written.
    const bad = await http(s, "PUT", "/v1/policy", { token: "admin", body: "tollgate: 1\nname: broken\nrules: 5\n", headers: YAML });
    expect(bad.status).toBe(422);
    expect(readFileSync(file, "utf8")).toBe(STRICTER);
  });

  it("a PUT whose policy cannot be written fails with 503 and the old policy keeps serving", async () => {
    const { s, file } = await start(["--persist-policy", "--no-watch"]);
    server = s;
    const before = await served(s);
    // The temporary file's name is taken by a directory: the write fails (root ignores modes).
    mkdirSync(join(dirname(file), ".policy.yaml.tmp"));
    const put = await http(s, "PUT", "/v1/policy", { token: "admin", body: STRICTER, headers: YAML });
    expect(put.status).toBe(503);
    expect(put.body.error.message).toContain("--persist-policy could not write");
    expect(await served(s)).toBe(before);
    expect(readFileSync(file, "utf8")).toBe(ORIGINAL);
  });
});
