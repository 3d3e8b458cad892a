// Using Tollgate from another project (README, "Use it from your project"): `npm pack` makes a
// package with the built core, the compiled host and its types — and nothing of the tests,
// benchmarks or sources — and a project that installs that tarball imports it, type-checks
// against it and runs its CLI.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../server/helpers.js";

const root = join(import.meta.dirname, "..", "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

interface Packed {
  filename: string;
  files: { path: string }[];
}

/** `npm pack` of the built tree (--ignore-scripts: `prepare` would build it all again). */
function pack(args: string[]): Packed {
  const out = execFileSync(npm, ["pack", "--json", "--ignore-scripts", ...args], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return (JSON.parse(out) as Packed[])[0]!;
}

describe("packaging: npm pack", () => {
  it("holds the core, the compiled host with its types and the CLI, and nothing of tests, benchmarks or sources", () => {
    const files = pack(["--dry-run"]).files.map((f) => f.path);
    for (const needed of ["package.json", "README.md", "bin/tollgate.js", "build/tollgate.wasm", "build/dist/src/index.js", "build/dist/src/index.d.ts", "build/dist/src/cli/main.js", "build/dist/src/adapters/ai-sdk.d.ts", "examples/billing-agent.yaml", "schema/tollgate.schema.json"]) {
      expect(files).toContain(needed);
    }
    const unwanted = files.filter((f) => /^(test|bench|assembly|src|python|scripts|docs|\.ci)\/|^build\/dist\/(test|bench|scripts)\/|\.map$|\.test\.|\.wat$/.test(f));
    expect(unwanted).toEqual([]);
  });

  describe("a project that installs the tarball", () => {
    let project: string;
    let installLog = "";
    beforeAll(() => {
      const dir = tempDir();
      const tarball = join(dir, pack(["--pack-destination", dir]).filename);
      project = join(dir, "app");
      mkdirSync(project);
      writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true, type: "module" }));
      // From the npm cache where it can (the registry otherwise); --ignore-scripts skips
      // better-sqlite3's native build (Policy and the CLI below do not open SQLite; a real
      // install runs it, and Gate's approvals then work as in this checkout).
      const installed = spawnSync(npm, ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--omit=dev", tarball], { cwd: project, encoding: "utf8", timeout: 240_000 });
      expect(installed.status, installed.stderr).toBe(0);
      installLog = `${installed.stdout}\n${installed.stderr}`;
    }, 300_000);

    it("installs without an engine warning on the Node the README names (our overrides do not reach a consumer)", () => {
      // fastify's light-my-request >= 6.8 wants cookie@2 (Node >= 22): tollgate depends on
      // light-my-request ~6.6 itself, which the consumer's tree then shares (package.json).
      expect(installLog).not.toMatch(/EBADENGINE/);
      const lmr = JSON.parse(readFileSync(join(project, "node_modules", "light-my-request", "package.json"), "utf8")) as { version: string };
      expect(lmr.version).toMatch(/^6\.6\./);
      expect(existsSync(join(project, "node_modules", "fastify", "node_modules", "light-my-request"))).toBe(false);
    });

    it("imports it by name and decides", () => {
      const script = `import { Policy, PolicyError } from "tollgate";
const p = Policy.fromFile("node_modules/tollgate/examples/billing-agent.yaml");
const d = p.evaluate({ tool: "payments.refund", agent: { id: "bot-1" }, args: { order_id: "ord_4821abcd", amount: 20, currency: "EUR" } });
let positioned = "";
try { Policy.fromYaml("tollgate: 1\\nname: x\\nrules: 5\\n", { filename: "x.yaml" }); } catch (e) { if (e instanceof PolicyError) positioned = e.format(); }
console.log(JSON.stringify({ decision: d.decision, rule: d.rule, positioned }));`;
      writeFileSync(join(project, "main.mjs"), script);
      const out = JSON.parse(execFileSync(process.execPath, ["main.mjs"], { cwd: project, encoding: "utf8" })) as { decision: string; rule: string; positioned: string };
      expect(out).toMatchObject({ decision: "allow", rule: "small-refund" });
      expect(out.positioned).toMatch(/^x\.yaml:3:8: error: /);
    });

    it("type-checks against its declarations (subpath exports included)", () => {
      writeFileSync(join(project, "check.ts"), `import { Policy, type Decision } from "tollgate";
import { gateTools } from "tollgate/adapters/ai-sdk";
const d: Decision = Policy.fromFile("p.yaml").evaluate({ tool: "x" });
const verdict: "allow" | "deny" | "escalate" = d.decision;
// @ts-expect-error a decision has no such field
d.nonsense;
export { verdict, gateTools };
`);
      writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", noEmit: true, skipLibCheck: true, types: [] }, files: ["check.ts"] }));
      execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "."], { cwd: project, encoding: "utf8" });
    });

    it("runs its CLI (npx tollgate)", () => {
      expect(readdirSync(join(project, "node_modules", ".bin"))).toContain("tollgate");
      const out = execFileSync(npm, ["exec", "--no", "--", "tollgate", "check", "node_modules/tollgate/examples/billing-agent.yaml"], { cwd: project, encoding: "utf8" });
      expect(out).toMatch(/^ok: \d+ rules/);
    });

    it("writes a starter policy whose schema line names the installed schema (npx tollgate init)", () => {
      execFileSync(npm, ["exec", "--no", "--", "tollgate", "init"], { cwd: project, encoding: "utf8" });
      const first = readFileSync(join(project, "policy.yaml"), "utf8").split("\n")[0];
      expect(first).toBe("# yaml-language-server: $schema=./node_modules/tollgate/schema/tollgate.schema.json");
      expect(existsSync(join(project, "node_modules/tollgate/schema/tollgate.schema.json"))).toBe(true);
      const out = execFileSync(npm, ["exec", "--no", "--", "tollgate", "test", "policy.yaml"], { cwd: project, encoding: "utf8" });
      expect(out).toBe("6 passed, 0 failed\n");
    });
  });
});
