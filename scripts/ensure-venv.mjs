#!/usr/bin/env node
// Creates the Python virtual environment (.venv) when it is missing or lacks the package, before
// the Node tests run: some of them start Python processes (test/server/redis-state.test.ts runs
// two Python gates beside three servers on one Redis). `npm test` runs it first.

import { ensureVenv } from "./venv.mjs";

ensureVenv();
