// The adapters are separate entry points: importing `tollgate` never loads an agent SDK, and the
// adapters themselves import only types from theirs (users install the SDK they use; `ai` and
// `@openai/agents` are optional peer dependencies). Checked on the emitted JavaScript: each
// module transpiled on its own (type-only imports vanish), its imports followed.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const SDKS = /^(ai|ai\/.*|@ai-sdk\/.*|@openai\/.*|openai|zod)$/;

/** Every module reachable from `entry` at run time: its relative imports and its bare ones. */
function runtimeGraph(entry: string): { files: string[]; bare: Map<string, string> } {
  const files = new Set<string>();
  const bare = new Map<string, string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const js = ts.transpileModule(readFileSync(file, "utf8"), { compilerOptions: { module: ts.ModuleKind.NodeNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false } }).outputText;
    for (const imp of ts.preProcessFile(js, true, true).importedFiles) {
      const spec = imp.fileName;
      if (spec.startsWith(".")) todo.push(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
      else bare.set(spec, relative(ROOT, file));
    }
  }
  return { files: [...files].map((f) => relative(ROOT, f)), bare };
}

describe("adapter entry points", () => {
  it("importing tollgate loads no adapter and no agent SDK", () => {
    const { files, bare } = runtimeGraph(join(ROOT, "src/index.ts"));
    expect(files.filter((f) => f.startsWith("src/adapters/"))).toEqual([]);
    expect([...bare.keys()].filter((s) => SDKS.test(s))).toEqual([]);
  });

  for (const adapter of ["ai-sdk", "openai-agents"]) {
    it(`tollgate/adapters/${adapter} imports only types from its SDK`, () => {
      const { bare } = runtimeGraph(join(ROOT, `src/adapters/${adapter}.ts`));
      expect([...bare.keys()].filter((s) => SDKS.test(s))).toEqual([]);
    });
  }

  it("package.json exports the main entry and each adapter from the build of its source", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(pkg.exports["."]).toEqual({ types: "./build/dist/src/index.d.ts", default: "./build/dist/src/index.js" });
    expect(pkg.main).toBe("build/dist/src/index.js");
    for (const adapter of ["ai-sdk", "openai-agents"]) {
      expect(pkg.exports[`./adapters/${adapter}`]).toEqual({ types: `./build/dist/src/adapters/${adapter}.d.ts`, default: `./build/dist/src/adapters/${adapter}.js` });
      expect(existsSync(join(ROOT, `src/adapters/${adapter}.ts`))).toBe(true);
    }
    expect(pkg.peerDependenciesMeta).toEqual({ "@openai/agents": { optional: true }, ai: { optional: true } });
    expect(Object.keys(pkg.peerDependencies).sort()).toEqual(["@openai/agents", "ai"]);
  });
});
