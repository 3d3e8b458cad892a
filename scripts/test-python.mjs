#!/usr/bin/env node
// Runs the Python host's test suite (python/tests) with pytest, creating the virtual environment
// in the repository root (.venv) when it is missing or lacks the package:
//   python3 -m venv .venv && .venv/bin/pip install -e "python[test]"
// Extra arguments are passed to pytest: `npm run test:python -- -k conformance`.
// Exits with pytest's exit code.

import { spawnSync } from "node:child_process";
import { ensureVenv, log, root } from "./venv.mjs";

const python = ensureVenv();

log("running pytest python/tests…");
const pytest = spawnSync(python, ["-m", "pytest", "python/tests", "-q", ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
if (pytest.error) {
  console.error(`tollgate: cannot run pytest: ${pytest.error.message}`);
  process.exit(1);
}
process.exit(pytest.status ?? 1);
