#!/usr/bin/env node
// Thin launcher: the CLI itself is compiled from src/cli/ by `npm install` (prepare).

if (process.argv[2] === "hook") {
  // A coding agent's hook runs once per tool call: load only what it needs (not the other
  // commands, the server, SQLite approvals...), and let it answer every failure itself.
  let hook;
  try {
    hook = await import("../build/dist/src/cli/hook.js");
  } catch (err) {
    // Exit 2 blocks the tool call (any other failure would let it run): fail closed.
    process.stdout.write(JSON.stringify({ hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: "deny", permissionDecisionReason: `Tollgate: denied because the hook cannot start (fail closed): ${err}` } }) + "\n");
    process.stderr.write(`tollgate hook: cannot start: ${err && err.stack ? err.stack : err}\n`);
    process.exit(2);
  }
  await hook.hookMain(process.argv.slice(3));
} else {
  const { main } = await import("../build/dist/src/cli/main.js");
  const { survivesClosed } = await import("../build/dist/src/server/log-output.js");

  // A reader that stops early (`tollgate audit tail DIR | head`) closes the pipe: stop quietly,
  // as other command-line tools do, instead of dying with an EPIPE stack trace. Not a server,
  // which only logs there: it drops its log lines and keeps serving (src/server/log-output.ts).
  const isPipeClosed = (err) => err && err.code === "EPIPE";
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err) => {
      if (survivesClosed(stream)) return;
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
}
