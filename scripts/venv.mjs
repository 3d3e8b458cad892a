// The Python virtual environment shared by the test and benchmark scripts: `.venv` in the
// repository root, created when missing (python3 -m venv .venv && pip install -e "python[test]").

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const venv = join(root, ".venv");
const isWindows = process.platform === "win32";
const python = isWindows ? join(venv, "Scripts", "python.exe") : join(venv, "bin", "python");

function log(message) {
  console.log(`tollgate: ${message}`);
}

// No retries against indexes that cannot be reached (CI has only the package registries):
// a missing index should cost one failed lookup, not minutes of back-off.
const env = { ...process.env, PIP_RETRIES: process.env.PIP_RETRIES ?? "0", PIP_DISABLE_PIP_VERSION_CHECK: "1" };

function run(command, args, what) {
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env });
  if (result.error) {
    console.error(`tollgate: cannot ${what}: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    console.error(`tollgate: ${what} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status || 1);
  }
}

function hostPython() {
  for (const candidate of isWindows ? ["py", "python"] : ["python3", "python"]) {
    const probe = spawnSync(candidate, ["-c", "import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)"], { stdio: "ignore" });
    if (probe.status === 0) return candidate;
  }
  console.error("tollgate: Python 3.10 or newer is needed for the Python tests (python3 was not found)");
  process.exit(1);
}

/** The venv's python, after creating .venv and installing the package where needed. */
export function ensureVenv() {
  if (!existsSync(python)) {
    log("creating .venv…");
    run(hostPython(), ["-m", "venv", venv], "create .venv");
  }

  // tollgate/_abi.py is build output (abi/constants.json → scripts/gen-abi.mjs); the editable
  // install reads it from python/tollgate/, so (re)generating it is all a checkout needs.
  run(process.execPath, [join(root, "scripts", "gen-abi.mjs")], "generate the ABI constants (scripts/gen-abi.mjs)");
  // tollgate/state/redis_counters.lua likewise (src/state/redis-counters.lua → scripts/gen-lua.mjs).
  run(process.execPath, [join(root, "scripts", "gen-lua.mjs")], "copy the Redis script (scripts/gen-lua.mjs)");

  const ready = spawnSync(python, ["-c", "import tollgate, pytest, hypothesis, wasmtime, yaml, cryptography, redis, mcp"], { cwd: root, stdio: "ignore" });
  if (ready.status !== 0) {
    log('installing the Python package into .venv (pip install -e "python[test]")…');
    // At the lower bounds of its dependencies (python/lower-bounds.txt): what users get at worst.
    run(python, ["-m", "pip", "install", "--disable-pip-version-check", "-q", "-c", join(root, "python", "lower-bounds.txt"), "-e", `${join(root, "python")}[test]`], "pip install");
  }

  if (!existsSync(join(root, "build", "tollgate.wasm")) && !existsSync(join(root, "python", "tollgate", "tollgate.wasm"))) {
    console.error("tollgate: the core is not built: run `npm run build:wasm` first");
    process.exit(1);
  }
  return python;
}

export { root, log };
