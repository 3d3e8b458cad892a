// Import rules (issue 12): run by `npm test` through `npm run test:deps`
//   depcruise --config .dependency-cruiser.cjs src assembly test bench scripts console
// Where code lives and why: docs/architecture.md, "Where code lives". A rule names the paths
// it applies to from the repository root; test/deps.test.ts runs these very rules on the small
// trees of test/deps-fixtures/ (excluded here) to show that each one reports what it should.

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycle-src",
      severity: "error",
      comment: "The Node host has no import cycles (type-only imports count: they are cycles in the design).",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "no-cycle-assembly",
      severity: "error",
      comment: "The core's layers import in one direction: no import cycles in assembly/.",
      from: { path: "^assembly/" },
      to: { circular: true },
    },
    {
      name: "src-not-to-test-or-bench",
      severity: "error",
      comment: "Shipped code never imports tests, test support or benchmarks.",
      from: { path: "^src/" },
      to: { path: "^(test|bench)/" },
    },
    {
      name: "assembly-not-to-test-or-bench",
      severity: "error",
      comment: "The core never imports tests, test support or benchmarks.",
      from: { path: "^assembly/" },
      to: { path: "^(test|bench)/" },
    },
    {
      name: "test-not-to-bench",
      severity: "error",
      comment:
        "Tests (test/support/ included) do not import benchmark programs: what both need lives in test/support/.",
      from: { path: "^test/" },
      to: { path: "^bench/" },
    },
    {
      name: "bench-only-to-test-support",
      severity: "error",
      comment: "Benchmarks import from test/ only what is shared on purpose: test/support/.",
      from: { path: "^bench/" },
      to: { path: "^test/", pathNot: "^test/support/" },
    },
    {
      name: "test-support-self-contained",
      severity: "error",
      comment: "test/support/ is shared by tests and benchmarks: it imports no other test file (and no bench file, above).",
      from: { path: "^test/support/" },
      to: { path: "^test/", pathNot: "^test/support/" },
    },
    // The Node host's layers, bottom up (docs/architecture.md, "Where code lives"): the engine
    // (src/*.ts, src/state/) → records (audit/, approvals/, metrics/) → pipeline/ → gate/ →
    // server/ → cli/; the integrations (mcp/, hook/, adapters/) stand beside the CLI on the gate
    // and talk to a server only over HTTP. A layer imports only layers below it.
    {
      name: "engine-imports-no-io",
      severity: "error",
      comment: "The engine (src/*.ts but index.ts, src/state/) knows nothing of audit logs, approvals, metrics, the pipeline or anything above.",
      from: { path: "^src/([^/]+[.]ts|state/)", pathNot: "^src/index[.]ts$" },
      to: { path: "^src/(audit|approvals|metrics|pipeline|gate|server|cli|mcp|hook|adapters)/" },
    },
    {
      name: "records-below-pipeline",
      severity: "error",
      comment: "The audit log, approvals and metrics are used by the pipeline, never the other way round.",
      from: { path: "^src/(audit|approvals|metrics)/" },
      to: { path: "^src/(pipeline|gate|server|cli|mcp|hook|adapters)/" },
    },
    {
      name: "pipeline-below-gate",
      severity: "error",
      comment: "The decision pipeline is shared by the gate and the server: it imports neither.",
      from: { path: "^src/pipeline/" },
      to: { path: "^src/(gate|server|cli|mcp|hook|adapters)/" },
    },
    {
      name: "gate-below-server",
      severity: "error",
      comment: "The gate (both halves in one process) imports no server, CLI or integration.",
      from: { path: "^src/gate/" },
      to: { path: "^src/(server|cli|mcp|hook|adapters)/" },
    },
    {
      name: "server-below-cli",
      severity: "error",
      comment: "The control plane imports no command line and no integration.",
      from: { path: "^src/server/" },
      to: { path: "^src/(cli|mcp|hook|adapters)/" },
    },
    {
      name: "integrations-are-leaves",
      severity: "error",
      comment:
        "The MCP gateway, the coding-agent hooks and the framework adapters sit on the gate; they reach a control plane over HTTP (never its code) and import no command line. Only the CLI imports them.",
      from: { path: "^src/(mcp|hook|adapters)/" },
      to: { path: "^src/(server|cli)/" },
    },
    {
      name: "only-cli-imports-integrations",
      severity: "error",
      comment: "Nothing but the CLI and the integrations themselves imports an integration (the adapters are separate entry points).",
      from: { path: "^src/", pathNot: "^src/(cli|mcp|hook|adapters)/" },
      to: { path: "^src/(mcp|hook|adapters)/" },
    },
    // Replay (src/replay/: `tollgate replay`) decides recorded actions under a candidate policy: it
    // reads audit records and rebuilds counters as the pipeline does, just below the CLI and
    // beside the gate and the server, none of which it imports; only the CLI imports it.
    {
      name: "replay-below-cli",
      severity: "error",
      comment: "Replay stands on the engine, the audit log and the pipeline: it imports no gate, server, CLI or integration.",
      from: { path: "^src/replay/" },
      to: { path: "^src/(gate|server|cli|mcp|hook|adapters)/" },
    },
    {
      name: "only-cli-imports-replay",
      severity: "error",
      comment: "Nothing but the CLI imports replay (a layer of its own, just below the CLI).",
      from: { path: "^src/", pathNot: "^src/(cli|replay)/" },
      to: { path: "^src/replay/" },
    },
    {
      name: "lint-reads-the-manifest-only",
      severity: "error",
      comment: "tollgate lint works on the manifest (a JSON value) alone: src/lint/ imports nothing else of src/, so it cannot come to depend on the engine's or the log's internals.",
      from: { path: "^src/lint/" },
      to: { path: "^src/", pathNot: "^src/lint/" },
    },
    // The web console (console/: a browser bundle built by scripts/build-console.mjs) talks to the
    // server over HTTP only; it is served as files, never imported by the Node host.
    {
      name: "console-is-a-browser-app",
      severity: "error",
      comment: "The web console runs in a browser: it imports nothing of the Node host, the core, tests, benchmarks or scripts (it reaches the server over HTTP).",
      from: { path: "^console/" },
      to: { path: "^(src|assembly|test|bench|scripts)/" },
    },
    {
      name: "only-tests-import-console",
      severity: "error",
      comment: "Nothing but tests imports the console's source (the server serves its built files).",
      from: { path: "^(src|assembly|bench|scripts)/" },
      to: { path: "^console/" },
    },
    {
      name: "fmt-knows-only-yaml",
      severity: "error",
      comment: "tollgate fmt's layout (src/fmt/) edits YAML documents and knows nothing else of src/: the command (src/cli/fmt.ts) loads the policy before and after, so the layout cannot come to depend on the engine. It reads YAML as the loader does (src/yaml-document.ts, the package with its lexer repaired).",
      from: { path: "^src/fmt/" },
      to: { path: "^src/", pathNot: "^src/(fmt/|yaml-document[.]ts$)" },
    },
    {
      name: "no-unresolvable",
      severity: "error",
      comment:
        "Every relative import resolves: a rule cannot judge an import it cannot follow, so this one keeps the others honest.",
      from: { path: "^(src|assembly|test|bench|scripts|console)/" },
      to: { couldNotResolve: true, path: "^[.][.]?/" },
    },
  ],
  options: {
    // Type-only imports are dependencies too (`import type` cycles are cycles in the design).
    tsPreCompilationDeps: true,
    // NodeNext: `./x.js` in a .ts file is ./x.ts. AssemblyScript files import extensionless
    // `./x` (assembly/tsconfig.json), which resolves to ./x.ts with the same settings.
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(build|node_modules|test/deps-fixtures)/" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".mjs", ".cjs", ".json", ".d.ts"] },
  },
};
