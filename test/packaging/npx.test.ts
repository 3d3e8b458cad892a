// The README's commands start with `npx tollgate`. In this repository npm exec would link the
// checkout into its npx cache the first time, running its prepare script — the whole build (25-40
// s, silently); `npm install` makes that link once with scripts off (scripts/link-bin.mjs, run by
// prepare) and links node_modules/.bin/tollgate, so the documented command runs at once on a
// fresh clone. `--no` makes npm exec refuse to install anything: it
// succeeds only if nothing is left to prepare.

import { execFileSync } from "node:child_process";
import { readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;

describe("npx tollgate in the repository", () => {
  it("node_modules/.bin/tollgate is this checkout's CLI", () => {
    expect(realpathSync(join(root, "node_modules", ".bin", "tollgate"))).toBe(realpathSync(join(root, "bin", "tollgate.js")));
  });

  it("needs nothing installed after npm install (npm exec --no refuses to install)", () => {
    const out = execFileSync(npm, ["exec", "--offline", "--no", "--", "tollgate", "--version"], { cwd: root, encoding: "utf8", timeout: 60_000 });
    expect(out.trim()).toBe(version);
  });

  it("runs the code that is here, not a copy", () => {
    const out = execFileSync(npm, ["exec", "--offline", "--no", "--", "tollgate", "check", "examples/billing-agent.yaml"], { cwd: root, encoding: "utf8", timeout: 60_000 });
    expect(out).toMatch(/^ok: \d+ rules/);
  });
});
