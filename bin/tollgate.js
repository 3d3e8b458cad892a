#!/usr/bin/env node
// Thin launcher: the CLI itself is compiled from src/cli/ by `npm install` (prepare).
import { main } from "../build/dist/src/cli/main.js";

// A reader that stops early (`tollgate audit tail DIR | head`) closes the pipe: stop quietly,
// as other command-line tools do, instead of dying with an EPIPE stack trace.
const isPipeClosed = (err) => err && err.code === "EPIPE";
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (isPipeClosed(err)) process.exit(process.exitCode ?? 0);
    throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    if (isPipeClosed(err)) return;
    console.error(`tollgate: internal error: ${err && err.stack ? err.stack : err}`);
    process.exitCode = 70;
  },
);
