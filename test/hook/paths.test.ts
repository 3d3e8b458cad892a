// The file a tool call names, resolved as the kernel resolves it (src/hook/paths.ts): a policy's
// "write outside the project" must hold for the file the write would reach, through symbolic
// links — dangling ones included (a write through one creates its target) — and with `..`
// applied after them (`link/..` is the link target's parent, not the link's directory).

import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { physicalPath, projectFacts } from "../../src/hook/paths.js";
import { tempDir } from "./helpers.js";

function tree() {
  const project = realpathSync(tempDir("tollgate-paths-project-"));
  const outside = realpathSync(tempDir("tollgate-paths-outside-"));
  mkdirSync(join(project, ".claude"));
  mkdirSync(join(outside, "sub"));
  writeFileSync(join(project, "real.txt"), "x");
  symlinkSync(join(outside, "newfile"), join(project, "dangling")); // target absent
  symlinkSync(".claude/settings.local.json", join(project, "notes.md")); // relative, target absent
  symlinkSync(join(outside, "sub"), join(project, "linkdir"));
  symlinkSync("dangling", join(project, "chain")); // a link to a dangling link
  symlinkSync("loop-b", join(project, "loop-a"));
  symlinkSync("loop-a", join(project, "loop-b"));
  return { project, outside };
}

describe("physicalPath", () => {
  it("follows a dangling link to the file a write would create", () => {
    const { project, outside } = tree();
    expect(physicalPath(join(project, "dangling"))).toBe(join(outside, "newfile"));
    expect(physicalPath(join(project, "chain"))).toBe(join(outside, "newfile"));
    expect(physicalPath(join(project, "notes.md"))).toBe(join(project, ".claude/settings.local.json"));
  });

  it("applies .. after the links before it, as the kernel does", () => {
    const { project, outside } = tree();
    expect(physicalPath(`${project}/linkdir/../escaped`)).toBe(join(outside, "escaped"));
    expect(physicalPath(`${project}/linkdir/new/../x`)).toBe(join(outside, "sub/x")); // past what exists: by the text
    expect(physicalPath(`${project}/real.txt`)).toBe(join(project, "real.txt"));
    expect(physicalPath(`${project}/./a/b`)).toBe(join(project, "a/b"));
  });

  it("gives up on a loop of links (any open of it fails) without hanging", () => {
    const { project } = tree();
    expect(physicalPath(join(project, "loop-a"))).toMatch(/loop-[ab]$/);
  });

  it("in_project is false for every way out", () => {
    const { project, outside } = tree();
    const facts = (file_path: string) => (projectFacts({ file_path }, project, project).file as { in_project: boolean }).in_project;
    expect(facts("dangling")).toBe(false);
    expect(facts(`${project}/chain`)).toBe(false);
    expect(facts("linkdir/../escaped")).toBe(false);
    expect(facts("real.txt")).toBe(true);
    expect(facts("new/dir/file.ts")).toBe(true);
    // A link from outside into the project, then `..`: the kernel's reading is inside, a tool that
    // normalizes the text first would write outside — outside, then (fail closed).
    mkdirSync(join(project, "sub"));
    symlinkSync(join(project, "sub"), join(outside, "linkin"));
    expect(physicalPath(`${outside}/linkin/../x`)).toBe(join(project, "x"));
    expect(facts(`${outside}/linkin/../x`)).toBe(false);
    expect(facts("notes.md")).toBe(true); // in the project, but it is .claude/settings.local.json:
    expect((projectFacts({ file_path: "notes.md" }, project, project).file as { path: string }).path).toBe(join(project, ".claude/settings.local.json"));
  });
});
