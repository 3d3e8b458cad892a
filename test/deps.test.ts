// The import rules (.dependency-cruiser.cjs, `npm run test:deps`, run first by `npm test`) bite:
// run with the repository's own config on test/deps-fixtures/ (a small src/, assembly/, test/,
// bench/ tree that breaks each rule once and obeys it elsewhere), depcruise reports exactly the
// broken imports and fails. The real tree's run is `npm run test:deps`.

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const require = createRequire(import.meta.url);
const CONFIG = join(ROOT, ".dependency-cruiser.cjs");
const FIXTURES = join(ROOT, "test/deps-fixtures");

interface Violation { type: string; from: string; to: string; rule: { name: string }; cycle?: { name: string }[] }

function depcruise(cwd: string, args: string[]): { status: number | null; stdout: string } {
  const pkg = JSON.parse(readFileSync(join(ROOT, "node_modules/dependency-cruiser/package.json"), "utf8")) as { bin: Record<string, string> };
  const bin = join(ROOT, "node_modules/dependency-cruiser", pkg.bin.depcruise!);
  const r = spawnSync(process.execPath, [bin, "--config", CONFIG, ...args], { cwd, encoding: "utf8" });
  expect(r.error).toBeUndefined();
  return { status: r.status, stdout: r.stdout };
}

describe("import rules (.dependency-cruiser.cjs)", () => {
  it("report every broken rule of the fixture tree, and nothing else, and fail", () => {
    const json = depcruise(FIXTURES, ["--output-type", "json", "src", "assembly", "test", "bench", "console"]);
    const violations = (JSON.parse(json.stdout) as { summary: { violations: Violation[] } }).summary.violations;
    const seen = violations.map((v) =>
      v.type === "cycle" ? `${v.rule.name}: ${[v.from, ...v.cycle!.map((c) => c.name)].join(" → ")}` : `${v.rule.name}: ${v.from} → ${v.to}`,
    );
    expect(seen.sort()).toEqual([
      "assembly-not-to-test-or-bench: assembly/leak.ts → test/other.ts",
      "bench-only-to-test-support: bench/program.ts → test/other.ts",
      // the web console is a browser app: it and the Node host meet over HTTP only
      "console-is-a-browser-app: console/app.ts → src/fine.ts",
      // the Node host's layers import down: engine → records → pipeline → gate → server → cli
      "engine-imports-no-io: src/state/store.ts → src/audit/log.ts",
      "gate-below-server: src/gate/gate.ts → src/server/app.ts",
      "integrations-are-leaves: src/mcp/gateway.ts → src/cli/io.ts",
      // AssemblyScript's extensionless imports resolve: compile/ ↔ manifest/
      "lint-reads-the-manifest-only: src/lint/shadow.ts → src/policy.ts",
      "no-cycle-assembly: assembly/compile/program.ts → assembly/manifest/errors.ts → assembly/compile/program.ts",
      // a cycle through an `import type` counts (CommandIo in src/cli/main.ts was one)
      "no-cycle-src: src/cli/check.ts → src/cli/main.ts → src/cli/check.ts",
      "no-unresolvable: bench/program.ts → ./missing.js",
      "only-cli-imports-integrations: src/server/app.ts → src/mcp/gateway.ts",
      "only-cli-imports-replay: src/server/replay.ts → src/replay/replay.ts",
      "only-tests-import-console: src/server/console.ts → console/view.ts",
      "pipeline-below-gate: src/pipeline/decide.ts → src/gate/gate.ts",
      "records-below-pipeline: src/audit/log.ts → src/pipeline/decide.ts",
      // replay sits just below the CLI: it may read audit records, not reach into the gate
      "replay-below-cli: src/replay/replay.ts → src/gate/gate.ts",
      "server-below-cli: src/server/app.ts → src/mcp/gateway.ts",
      "src-not-to-test-or-bench: src/leak.ts → bench/program.ts",
      "src-not-to-test-or-bench: src/leak.ts → test/support/helper.ts",
      "test-not-to-bench: test/support/helper.ts → bench/program.ts",
      "test-not-to-bench: test/uses-bench.ts → bench/program.ts",
      "test-support-self-contained: test/support/helper.ts → test/other.ts",
    ]);
    // As `npm run test:deps` runs it (the default `err` output): exit code = number of errors.
    const run = depcruise(FIXTURES, ["src", "assembly", "test", "bench", "console"]);
    expect(run.stdout).toContain("22 dependency violations (22 errors, 0 warnings)");
    expect(run.status).toBe(22);
  });

  it("are what npm test runs first, on the real tree without the fixtures", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.test).toMatch(/^npm run test:deps && /);
    expect(pkg.scripts["test:deps"]).toMatch(/^depcruise --config \.dependency-cruiser\.cjs src assembly test bench scripts console$/);
    const config = require(CONFIG) as { options: { exclude: { path: string } } };
    expect(new RegExp(config.options.exclude.path).test("test/deps-fixtures/src/leak.ts")).toBe(true);
  });
});
