// The README's commands write audit logs (and their approvals databases) into the working
// tree (`./audit`, `./audit-py`): git must ignore them, or a newcomer's first `git status`
// lists a log full of their experiments.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");

describe("packaging: what the README's commands write is ignored", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const written = [...new Set([...readme.matchAll(/["'\s]\.\/(audit[\w-]*)\b/g)].map((m) => m[1]!))];

  it("finds the directories the README writes", () => {
    expect(written).toEqual(expect.arrayContaining(["audit", "audit-py"]));
  });

  it("ignores policy.yaml, which the README's `npx tollgate init` writes", () => {
    expect(readme).toMatch(/npx tollgate init\s/);
    const out = execFileSync("git", ["check-ignore", "--no-index", "policy.yaml"], { cwd: root, encoding: "utf8" });
    expect(out.trim()).toBe("policy.yaml");
  });

  it("ignores the shadow log beside ./audit (serve --shadow) and the tarball npm pack writes", () => {
    expect(readme).toMatch(/npm pack/);
    for (const path of ["audit-shadow.jsonl", "audit-py-shadow.jsonl", "tollgate-0.1.0.tgz"]) {
      expect(execFileSync("git", ["check-ignore", "--no-index", path], { cwd: root, encoding: "utf8" }).trim()).toBe(path);
    }
  });

  it.each(written)("./%s is ignored", (dir) => {
    // check-ignore exits 0 when the path is ignored, 1 when not (execFileSync throws then).
    const out = execFileSync("git", ["check-ignore", "--no-index", `${dir}/approvals.db`], { cwd: root, encoding: "utf8" });
    expect(out.trim()).toBe(`${dir}/approvals.db`);
  });
});
