#!/usr/bin/env node
// `npx tollgate` in this repository must run this checkout's CLI at once. When the command is
// the project's own bin, npm exec links the project into its npx cache first, and that install
// ran the project's `prepare` — the whole build, again: 25-40 s the first time, silently. So
// `npm install` (prepare) makes that link once, here, with scripts off (the build is what is
// running now), and links node_modules/.bin/tollgate too (what a PATH finds). The cache entry is
// a symlink to this checkout: it always runs the code that is here.

import { spawnSync } from "node:child_process";
import { chmodSync, lstatSync, mkdirSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const binDir = join(root, "node_modules", ".bin");
const target = join(root, "bin", "tollgate.js");
mkdirSync(binDir, { recursive: true });

if (process.platform === "win32") {
  // npm's own shims on Windows are .cmd files that call node.
  writeFileSync(join(binDir, "tollgate.cmd"), `@node "%~dp0\\${relative(binDir, target)}" %*\r\n`);
} else {
  const link = join(binDir, "tollgate");
  try {
    lstatSync(link);
    unlinkSync(link);
  } catch {
    // not there yet
  }
  symlinkSync(relative(binDir, target), link);
  chmodSync(target, 0o755);
}
console.log("tollgate: linked node_modules/.bin/tollgate to bin/tollgate.js");

console.log("tollgate: preparing `npx tollgate` (npm links this checkout into its npx cache)…");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const started = Date.now();
// Scripts off: linking must not run `prepare` (this very build, and this script again).
const env = { ...process.env, npm_config_ignore_scripts: "true" };
const warm = spawnSync(npm, ["exec", "--yes", "--", "tollgate", "--version"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", timeout: 120_000, shell: process.platform === "win32" });
if (warm.status === 0) console.log(`tollgate: npx tollgate ready (${((Date.now() - started) / 1000).toFixed(1)} s); try: npx tollgate eval examples/billing-agent.yaml examples/actions.jsonl`);
else console.log(`tollgate: npx tollgate could not be prepared (${(warm.stderr || "").trim().split("\n").pop()}); its first run will do it, or run node bin/tollgate.js`);
