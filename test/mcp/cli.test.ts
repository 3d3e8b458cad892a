// `tollgate mcp` on the command line: --help, and configurations it refuses (exit 2, with
// FILE:LINE:COL for files), before anything is started.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runTollgate, upstreamCommand, workspace } from "./helpers.js";

describe("tollgate mcp command line", () => {
  it("--help prints usage with examples on stdout, exit 0", async () => {
    const r = await runTollgate(["mcp", "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("tollgate mcp --policy POLICY.yaml");
    expect(r.out).toContain("examples:");
  });

  it("a bad policy: its FILE:LINE:COL errors, exit 2", async () => {
    const ws = workspace("tollgate: 1\nname: bad\nrules:\n  - id: r\n    effect: deny\n    efect: x\n");
    const r = await runTollgate(["mcp", "--policy", ws.policy, "--audit", ws.auditDir, "--", ...upstreamCommand()]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${ws.policy}:6:5: error: unknown key 'efect' in rule (did you mean 'effect'?)`);
    expect(r.out).toBe("");
  });

  it("a bad configuration file: every problem with FILE:LINE:COL, exit 2", async () => {
    const ws = workspace();
    const file = join(ws.dir, "gw.yaml");
    writeFileSync(file, `policy: policy.yaml
hide_denied: yes please
upstreams:
  a.b:
    command: x
  web:
    url: ftp://example.com
    headers: { Authorization: "Bearer \${NOT_SET_ANYWHERE}" }
  both:
    command: x
    url: http://x
  odd:
    command: x
    colour: blue
unknown_top: 1
`);
    const r = await runTollgate(["mcp", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${file}:2:14: error: expected true or false`);
    expect(r.err).toContain(`${file}:4:3: error: upstream name 'a.b'`);
    expect(r.err).toContain(`${file}:7:10: error: expected an http(s) URL`);
    expect(r.err).toContain(`${file}:8:31: error: environment variable NOT_SET_ANYWHERE is not set`);
    expect(r.err).toContain(`${file}:10:5: error: an upstream has either command (stdio) or url (Streamable HTTP), not both`);
    expect(r.err).toContain(`${file}:14:5: error: unknown key 'colour' in a stdio upstream`);
    expect(r.err).toContain(`${file}:15:1: error: unknown key 'unknown_top'`);
  });

  it("command-line mistakes: exit 2 with the reason", async () => {
    const ws = workspace();
    const cases: [string[], RegExp][] = [
      [["mcp", "--", "x"], /no policy: give --policy FILE/],
      [["mcp", "--policy", ws.policy], /no upstream/],
      [["mcp", "--policy", ws.policy, "--control-plane", "http://x", "--", "x"], /either a policy .* or a control plane/],
      [["mcp", "--control-plane", "http://127.0.0.1:1", "--", "x"], /needs a token/],
      [["mcp", "--control-plane", "http://127.0.0.1:1", "--token", "t", "--hide-denied", "--", "x"], /hide_denied needs the policy in this process/],
      [["mcp", "--policy", ws.policy, "--listen", "0.0.0.0:8765", "--", "x"], /serving beyond loopback needs a token/],
      [["mcp", "--policy", ws.policy, "--bogus", "--", "x"], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const r = await runTollgate(args, { TOLLGATE_TOKEN: "", TOLLGATE_MCP_TOKEN: "" });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err).toMatch(message);
    }
  });

  it("an upstream that cannot start: a clear error, exit 1", async () => {
    const ws = workspace();
    const r = await runTollgate(["mcp", "--policy", ws.policy, "--audit", ws.auditDir, "--name", "ghost", "--", "/nonexistent/mcp-server"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no upstream could be started:\n {2}upstream 'ghost' is unavailable: .*ENOENT/);
  });
});
