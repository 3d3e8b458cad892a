#!/usr/bin/env node
// `npm run bench:python`: the Python host's benchmark (bench/python_bench.py) in .venv.
// Arguments go to the benchmark: `npm run bench:python -- --quick`.

import { spawnSync } from "node:child_process";
import { ensureVenv, root } from "./venv.mjs";

const python = ensureVenv();
const bench = spawnSync(python, ["bench/python_bench.py", ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
process.exit(bench.status ?? 1);
