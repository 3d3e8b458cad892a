// The README promises Node.js 20.19 or later (package.json "engines"). Every package `npm install`
// puts in node_modules must accept that too, or npm warns EBADENGINE on a fresh install and the
// package may not work there (cookie@2, through fastify → light-my-request, wants Node 22:
// tollgate depends on light-my-request ~6.6 itself, which takes cookie@1 and which fastify then
// shares — an "overrides" entry would not reach a project that installs tollgate; and
// @fastify/static is pinned to 10.1.3, the last to take content-disposition@2: 3 wants Node 22).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import semver from "semver";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; optional?: boolean; dev?: boolean }>;
};

describe("packaging: Node engines", () => {
  it("the README and package.json name the same lowest Node.js", () => {
    expect(pkg.engines.node).toBe(">=20.19");
    expect(readFileSync(join(root, "README.md"), "utf8")).toContain("Node.js 20.19 or later");
  });

  it("every locked package accepts the lowest Node.js the project supports", () => {
    const lowest = semver.minVersion(pkg.engines.node)!.version;
    const refusing: string[] = [];
    for (const [path, p] of Object.entries(lock.packages)) {
      const range = Array.isArray(p.engines) ? undefined : p.engines?.node;
      if (path === "" || range === undefined) continue;
      // A range npm itself cannot read is not one it warns about.
      if (semver.validRange(range) === null) continue;
      if (!semver.satisfies(lowest, range, { includePrerelease: true })) refusing.push(`${path.replace(/^node_modules\//, "")}@${p.version} wants node ${range}`);
    }
    expect(refusing).toEqual([]);
  });
});
