// The ABI's one source (abi/constants.json): the generated modules are current, docs/abi.md
// says the same, and the Node host reads the core as docs/architecture.md says (the loader for
// instantiation and the report, raw exports for evaluate).

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as abi from "../src/abi.generated.js";
import { ERROR_TEXT, ErrorCode } from "../src/index.js";
import { instantiateCore, readReport } from "../src/engine.js";

const root = join(import.meta.dirname, "..");
const spec = JSON.parse(readFileSync(join(root, "abi", "constants.json"), "utf8")) as {
  abi_version: number;
  tags: Record<string, unknown>;
  errors: Record<string, { code: number; text: string } | string>;
  limits: Record<string, { value: number } | string>;
};
const docs = readFileSync(join(root, "docs", "abi.md"), "utf8");

describe("abi/constants.json", () => {
  it("the generated modules are up to date", () => {
    const r = spawnSync(process.execPath, [join(root, "scripts", "gen-abi.mjs"), "--check"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("the Node host exports what the source says", () => {
    expect(abi.ABI_VERSION).toBe(spec.abi_version);
    for (const [name, e] of Object.entries(spec.errors)) {
      if (typeof e === "string") continue;
      expect(ERROR_TEXT[e.code]).toBe(e.text);
      expect(Object.entries(ErrorCode).find(([, c]) => c === e.code)?.[0].toUpperCase()).toBe(name.replace(/_/g, ""));
    }
    for (const [name, l] of Object.entries(spec.limits)) {
      if (typeof l !== "string") expect((abi as Record<string, unknown>)[name]).toBe(l.value);
    }
  });

  it("docs/abi.md has the same error codes, texts and tags", () => {
    const rows = [...docs.matchAll(/^\| (\d+) \| `([^`]+)` \|/gm)].map((m) => [Number(m[1]), m[2]]);
    expect(rows).toEqual(Object.entries(ERROR_TEXT).map(([c, t]) => [Number(c), t]));
    const tags = Object.entries(spec.tags).filter(([k]) => !k.startsWith("$")).map(([k, v]) => `${String(v)} ${k.toLowerCase()}`).join(", ");
    expect(docs).toContain(`tag: ${tags}`);
    expect(docs).toContain(`# Tollgate core ABI, version ${spec.abi_version}`);
  });
});

describe("the Node host and the core", () => {
  it("calls the raw exports (no loader wrapper) and reads the report through the loader", () => {
    const core = instantiateCore();
    expect((core.evaluate as unknown as { original?: unknown }).original).toBeUndefined();
    expect(core.evaluate(0)).toBe(-1); // nothing compiled yet
    const manifest = Buffer.from('{"name":"p","rules":[],"tollgate":1}');
    const ptr = core.manifest_buffer(manifest.length);
    new Uint8Array(core.memory.buffer, ptr, manifest.length).set(manifest);
    expect(core.compile(manifest.length)).toBe(0);
    const raw = new TextDecoder().decode(new Uint8Array(core.memory.buffer, core.report_ptr(), core.report_len()));
    expect(readReport(core)).toBe(raw);
    expect(JSON.parse(raw)).toMatchObject({ abi: spec.abi_version, name: "p" });
  });
});
