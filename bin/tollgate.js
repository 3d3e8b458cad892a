#!/usr/bin/env node
// Thin launcher: the CLI itself is compiled from src/cli/ by `npm install` (prepare).
import { main } from "../build/dist/src/cli/main.js";

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`tollgate: internal error: ${err && err.stack ? err.stack : err}`); process.exitCode = 70; },
);
