// Builds the web console (console/: Preact + TypeScript) into build/console/ (or --out DIR):
// index.html, console.js (one minified ES module bundle, Preact included) and console.css —
// everything the page loads, served by `tollgate serve` at /console/ (src/server/console.ts).
// --check: type-check console/ first (tsc -p console/tsconfig.json), as `npm run build` does.

import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({ options: { out: { type: "string" }, check: { type: "boolean" } } });
const out = resolve(values.out ?? join(root, "build/console"));

if (values.check) {
  execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "console/tsconfig.json")], { stdio: "inherit" });
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, "console/src/app.tsx")],
  outfile: join(out, "console.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2020"],
  minify: true,
  sourcemap: false,
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "eof",
  logLevel: "warning",
});
copyFileSync(join(root, "console/index.html"), join(out, "index.html"));
copyFileSync(join(root, "console/style.css"), join(out, "console.css"));
