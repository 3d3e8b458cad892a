// webhookNotifier against a local HTTP server: the JSON it posts, and failures reported
// through onError (never thrown). Also wired into Approvals.create.

import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Approvals } from "../../src/approvals/approvals.js";
import { webhookNotifier } from "../../src/approvals/notifier.js";
import { input, pending, storeKinds } from "./helpers.js";

const kinds = storeKinds("test/approvals/notifier.test.ts");

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: unknown;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body: JSON.parse(body) });
      handler(req, res, body);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/approvals`, received };
}

describe("webhookNotifier", () => {
  it("POSTs {type: approval.created, approval} as JSON with the given headers", async () => {
    const { url, received } = await serve((_req, res) => res.writeHead(204).end());
    const errors: Error[] = [];
    const notify = webhookNotifier(url, { headers: { authorization: "Bearer t0k" }, onError: (e) => errors.push(e) });
    const a = pending("a-1");
    await notify(a);
    expect(errors).toEqual([]);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: "POST", url: "/hooks/approvals", body: { type: "approval.created", approval: a } });
    expect(received[0]!.headers["content-type"]).toBe("application/json");
    expect(received[0]!.headers.authorization).toBe("Bearer t0k");
  });

  it("reports a non-2xx answer, a timeout and a refused connection through onError", async () => {
    const { url: failing } = await serve((_req, res) => res.writeHead(500).end("nope"));
    const { url: slow } = await serve(() => {
      /* never answers */
    });
    const errors: Error[] = [];
    const onError = (e: Error) => errors.push(e);
    await expect(webhookNotifier(failing, { onError })(pending("a-500"))).resolves.toBeUndefined();
    await expect(webhookNotifier(slow, { onError, timeoutMs: 100 })(pending("a-slow"))).resolves.toBeUndefined();
    await expect(webhookNotifier("http://127.0.0.1:1/x", { onError })(pending("a-refused"))).resolves.toBeUndefined();
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/approval webhook .* for approval a-500: answered HTTP 500/),
      expect.stringMatching(/for approval a-slow: timed out after 100 ms/),
      expect.stringMatching(/for approval a-refused: /),
    ]);
  });

  it("uses an injected fetch, and survives an onError that throws", async () => {
    const seen: Array<[string, RequestInit | undefined]> = [];
    const fakeFetch = (async (url: string, init?: RequestInit) => {
      seen.push([url, init]);
      return new Response(null, { status: 503 });
    }) as unknown as typeof fetch;
    const notify = webhookNotifier("https://example.invalid/h", { fetch: fakeFetch, onError: () => { throw new Error("bad handler"); } });
    await expect(notify(pending("a-1"))).resolves.toBeUndefined();
    expect(seen[0]![0]).toBe("https://example.invalid/h");
    expect(JSON.parse(seen[0]![1]!.body as string)).toMatchObject({ type: "approval.created", approval: { id: "a-1" } });
  });

  for (const kind of kinds) it.skipIf(!kind.available)(`is called by Approvals.create, and a failing webhook does not fail create (${kind.name})`, async () => {
    const { url, received } = await serve((_req, res) => res.writeHead(200).end("ok"));
    const errors: Error[] = [];
    const m = await Approvals.open({ store: await kind.fresh(), notifier: webhookNotifier(url), onError: (e) => errors.push(e) });
    const a = await m.create(input());
    for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(received.map((r) => r.body)).toEqual([{ type: "approval.created", approval: a }]);
    await m.close();
    const broken = await Approvals.open({ store: await kind.fresh(), notifier: webhookNotifier("http://127.0.0.1:1/x", { onError: (e) => errors.push(e) }) });
    await expect(broken.create(input())).resolves.toMatchObject({ state: "pending" });
    for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(errors).toHaveLength(1);
    await broken.close();
  });
});
