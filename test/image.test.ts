// Evaluation images (docs/abi.md, "Images"): a policy decides in an instance that loaded the image
// of a throw-away compiling instance. That instance stays small (it holds none of the garbage
// compiling leaves under the stub runtime) and decides exactly as the compiling one does.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RESULT_SIZE } from "../src/abi.generated.js";
import { canonicalJson } from "../src/canonical.js";
import { ActionEncoder, NO_ROOM } from "../src/encode.js";
import { instantiateCore, readReport } from "../src/engine.js";
import type { Core } from "../src/engine.js";
import { Policy } from "../src/index.js";
import { loadYaml } from "../src/yaml.js";

const policies = join(import.meta.dirname, "..", "bench", "policies");
const MiB = 1024 * 1024;

function canonicalOf(rules: number): Buffer {
  const loaded = loadYaml(readFileSync(join(policies, `generated-${rules}.yaml`), "utf8"), "p.yaml");
  if (!loaded.ok) throw new Error("the generated policy does not load");
  return Buffer.from(canonicalJson(loaded.yaml.value), "utf8");
}

function compiled(manifest: Buffer): { core: Core; fields: string[][] } {
  const core = instantiateCore();
  const at = core.manifest_buffer(manifest.length);
  new Uint8Array(core.memory.buffer, at, manifest.length).set(manifest);
  expect(core.compile(manifest.length)).toBe(0);
  return { core, fields: (JSON.parse(readReport(core)) as { fields: string[][] }).fields };
}

function loadedFrom(from: Core): Core {
  const len = from.image_size();
  expect(len).toBeGreaterThan(0);
  const core = instantiateCore();
  const at = core.image_buffer(len);
  new Uint8Array(core.memory.buffer, at, len).set(new Uint8Array(from.memory.buffer, from.image_ptr(), len));
  expect(core.load_image(len)).toBe(0);
  return core;
}

/** Every action's 8-byte result, deciding in batches as evaluateBatch does. */
function results(core: Core, fields: string[][], actions: unknown[]): Uint8Array {
  const encoder = new ActionEncoder(fields, core.memory);
  const out = new Uint8Array(actions.length * RESULT_SIZE);
  const start = core.input_ptr();
  const end = start + core.input_capacity();
  let done = 0;
  while (done < actions.length) {
    let pos = start;
    let n = 0;
    while (done + n < actions.length && n < core.result_capacity()) {
      const next = encoder.encode(actions[done + n], pos, end);
      if (next === NO_ROOM) break;
      pos = next;
      n++;
    }
    expect(n).toBeGreaterThan(0);
    expect(core.evaluate(n)).toBe(n);
    out.set(new Uint8Array(core.memory.buffer, core.result_ptr(), n * RESULT_SIZE), done * RESULT_SIZE);
    done += n;
  }
  return out;
}

describe("evaluation images", () => {
  it("a loaded 10,000-rule policy's instance holds a few MiB, not the compiler's 124", () => {
    const policy = Policy.fromFile(join(policies, "generated-10000.yaml"));
    const core = (policy as unknown as { session: { core: Core } }).session.core;
    expect(core.report_len()).toBe(0); // it loaded an image: it never compiled
    expect(core.memory.buffer.byteLength).toBeLessThan(16 * MiB);
  });

  for (const rules of [100, 1000, 10000]) {
    it(`decides the generated ${rules}-rule workload exactly as the instance that compiled it`, () => {
      const { core: full, fields } = compiled(canonicalOf(rules));
      const lean = loadedFrom(full);
      expect(lean.field_count()).toBe(full.field_count());
      expect(lean.result_capacity()).toBe(full.result_capacity());
      const actions = readFileSync(join(policies, `generated-${rules}.actions.jsonl`), "utf8")
        .trim().split("\n").map((line) => JSON.parse(line) as unknown);
      expect(Buffer.from(results(lean, fields, actions)).equals(Buffer.from(results(full, fields, actions)))).toBe(true);
      // and the loaded instance stays small: far below what compiling took
      expect(lean.memory.buffer.byteLength).toBeLessThan(full.memory.buffer.byteLength);
    });
  }

  it("a loaded instance cannot explain, compile or load again, and damaged images are refused", () => {
    const manifest = Buffer.from('{"name":"p","rules":[{"effect":"allow","id":"a","when":{"tool":{"glob":"x*"}}}],"tollgate":1}');
    const { core: full } = compiled(manifest);
    const lean = loadedFrom(full);
    expect(lean.explain_prepare()).toBe(-1);
    expect(lean.explain()).toBe(-1);
    expect(lean.compile(manifest.length)).toBe(-1);
    expect(lean.load_image(full.image_size())).toBe(-1);
    expect(lean.image_size()).toBe(-1); // it compiled nothing
    const len = full.image_size();
    for (const damage of [0, 4, 8]) { // magic, version, length
      const core = instantiateCore();
      const at = core.image_buffer(len);
      const bytes = new Uint8Array(core.memory.buffer, at, len);
      bytes.set(new Uint8Array(full.memory.buffer, full.image_ptr(), len));
      bytes[damage] = bytes[damage]! ^ 0xff;
      expect(core.load_image(len)).toBe(-1);
      expect(core.evaluate(0)).toBe(-1); // no policy
    }
    expect(instantiateCore().load_image(len)).toBe(-1); // no image buffer
  });
});
