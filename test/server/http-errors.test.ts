// Every error the server answers has the documented shape {"error": {"code", "message"}}, also
// those raised before a route runs (the HTTP parser, the router), and only PUT /v1/policy reads
// the large YAML bodies (issue 11).

import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, REFUND_SMALL, startServer, TOKENS } from "./helpers.js";
import type { Server } from "./helpers.js";

let s: Server;

beforeAll(async () => {
  s = await startServer({ workers: 1, args: ["--request-timeout", "1s"] });
});
afterAll(async () => {
  expect(await s.stop()).toBe(0);
});

/** Sends `raw` on a new connection; everything the server wrote until it closed the connection. */
function rawRequest(raw: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(s.port, "127.0.0.1", () => sock.write(raw));
    let got = "";
    sock.setEncoding("utf8");
    sock.on("data", (c: string) => (got += c));
    sock.on("close", () => resolve(got));
    sock.on("error", () => undefined); // a reset after the answer: keep what was read
  });
}

/** Status, headers (lower-case names) and JSON body of one raw HTTP/1.1 answer. */
function parseAnswer(text: string): { status: number; headers: Record<string, string>; body: any } { // eslint-disable-line @typescript-eslint/no-explicit-any
  const [head, ...rest] = text.split("\r\n\r\n");
  const [statusLine, ...lines] = head!.split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(statusLine!.split(" ")[1]), headers, body: JSON.parse(rest.join("\r\n\r\n")) };
}

const SHAPE = { error: { code: expect.any(String), message: expect.any(String) } };

describe("errors before a route runs have the documented shape", () => {
  it("a malformed request line: 400, JSON body, connection closed", async () => {
    const a = parseAnswer(await rawRequest("NOT HTTP AT ALL\r\n\r\n"));
    expect(a.status).toBe(400);
    expect(a.headers["content-type"]).toBe("application/json");
    expect(a.headers.connection).toBe("close");
    expect(a.body).toEqual(SHAPE);
    expect(a.body.error.code).toBe("bad_request");
  });

  it("headers too large: 431, JSON body", async () => {
    const a = parseAnswer(await rawRequest(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`));
    expect(a.status).toBe(431);
    expect(a.body).toEqual(SHAPE);
    expect(a.body.error.code).toBe("headers_too_large");
  });

  it("a request not received in time: 408, JSON body", async () => {
    const a = parseAnswer(await rawRequest(`POST /v1/decide HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.agent}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"action":`));
    expect(a.status).toBe(408);
    expect(a.body.error.code).toBe("request_timeout");
  });

  it("a URL that does not decode (/v1/%zz): 400, JSON body", async () => {
    for (const path of ["/v1/%zz", "/v1/approvals/%E0%A4%A/wait"]) {
      const a = parseAnswer(await rawRequest(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      expect(a.status, path).toBe(400);
      expect(a.body, path).toEqual(SHAPE);
      expect(a.body.error.code).toBe("bad_request");
    }
  });

  it("a path parameter over the length limit: 414, JSON body", async () => {
    const r = await http(s, "GET", `/v1/approvals/${"x".repeat(300)}`, { token: "admin" });
    expect(r.status).toBe(414);
    expect(r.body).toEqual({ error: { code: "uri_too_long", message: expect.stringMatching(/longer than 200/) } });
  });

  it("the server keeps serving", async () => {
    expect((await http(s, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } })).status).toBe(200);
  });
});

describe("YAML and text bodies are for PUT /v1/policy only", () => {
  const twoMiB = "a: b\n".repeat((2 * 1024 * 1024) / 5);
  for (const type of ["text/plain", "application/yaml"]) {
    it(`a 2 MiB ${type} body elsewhere is refused (415, the documented shape) without being read`, async () => {
      for (const path of ["/v1/decide", "/v1/decide/batch", "/v1/approvals/x/approve"]) {
        const token = path.includes("approvals") ? "approver" : "agent";
        const t0 = Date.now();
        const r = await http(s, "POST", path, { token, body: twoMiB, headers: { "content-type": type } });
        expect(r.status, path).toBe(415);
        expect(r.body, path).toEqual({ error: { code: "unsupported_media_type", message: expect.stringContaining("application/json") } });
        expect(Date.now() - t0).toBeLessThan(5000);
      }
    });
  }

  it("a policy body that is not UTF-8 is an invalid policy at its first bad byte (422), nothing installed", async () => {
    for (const path of ["/v1/policy", "/v1/policy/shadow"]) {
      const body = Buffer.concat([Buffer.from("tollgate: 1\nname: x\nrules:\n  - { id: d, effect: deny, reason: r, when: { args.p: { prefix: \"/donn"), Buffer.from([0xe9]), Buffer.from("es\" } } }\n")]);
      const r = await fetch(s.url + path, { method: "PUT", headers: { authorization: `Bearer ${TOKENS.admin}`, "content-type": "application/yaml" }, body });
      expect(r.status, path).toBe(422);
      const file = path === "/v1/policy" ? "<PUT /v1/policy>" : "<PUT /v1/policy/shadow>";
      expect(((await r.json()) as { error: unknown }).error, path).toEqual({
        code: "invalid_policy",
        message: `${file}:4:71: error: the policy is not valid UTF-8 (byte 0xE9 here): save it as UTF-8`,
        details: { problems: [{ file, line: 4, column: 71, message: "the policy is not valid UTF-8 (byte 0xE9 here): save it as UTF-8" }] },
      });
    }
    expect((await http(s, "GET", "/v1/policy", { token: "admin" })).body.policy).not.toBe("x");
  });

  it("a JSON body to PUT /v1/policy is refused before it is read", async () => {
    const r = await http(s, "PUT", "/v1/policy", { token: "admin", body: { tollgate: 1 } });
    expect(r.status).toBe(415);
    expect(r.body.error).toEqual({ code: "unsupported_media_type", message: "the body must be the policy YAML (Content-Type: application/yaml)" });
  });
});
