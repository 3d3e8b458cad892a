// The primary's messages to a worker (src/server/workers.ts, sendTo): acknowledgements, sums and
// approval ids of one event-loop turn go as one `many` message; every other message goes at once,
// after what waits for the same worker, so each worker gets every message in the order sent.

import type { Worker } from "node:cluster";
import { describe, expect, it } from "vitest";
import type { ToWorker } from "../../src/server/ipc.js";
import { sendTo } from "../../src/server/workers.js";

function fakeWorker(connected = true): { w: Worker; got: ToWorker[] } {
  const got: ToWorker[] = [];
  const w = { isConnected: () => connected, send: (m: ToWorker) => got.push(m) } as unknown as Worker;
  return { w, got };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const ack = (id: number): ToWorker => ({ t: "audit", id, s: id, h: "", x: [] });

describe("sendTo", () => {
  it("sends a turn's acknowledgements, sums and approval ids to a worker as one message, in order", async () => {
    const a = fakeWorker();
    const b = fakeWorker();
    sendTo(a.w, ack(1));
    sendTo(b.w, ack(2));
    sendTo(a.w, { t: "sums", id: 3, s: [1] });
    sendTo(a.w, { t: "approvals", id: 1, ap: ["x"] });
    expect(a.got).toEqual([]); // nothing before the turn ends
    await turn();
    expect(a.got).toEqual([{ t: "many", m: [ack(1), { t: "sums", id: 3, s: [1] }, { t: "approvals", id: 1, ap: ["x"] }] }]);
    expect(b.got).toEqual([ack(2)]); // one message alone goes as itself
    sendTo(a.w, ack(4));
    await turn();
    expect(a.got.at(-1)).toEqual(ack(4));
  });

  it("sends any other message at once, after what waits for that worker", async () => {
    const a = fakeWorker();
    const b = fakeWorker();
    sendTo(a.w, ack(1));
    sendTo(b.w, ack(2));
    sendTo(a.w, { t: "shutdown" });
    expect(a.got).toEqual([ack(1), { t: "shutdown" }]);
    expect(b.got).toEqual([]); // another worker's messages still wait for the turn's end
    await turn();
    expect(a.got).toHaveLength(2);
    expect(b.got).toEqual([ack(2)]);
  });

  it("sends nothing to a worker that is not connected", async () => {
    const gone = fakeWorker(false);
    sendTo(gone.w, ack(1));
    sendTo(gone.w, { t: "tokens" });
    await turn();
    expect(gone.got).toEqual([]);
  });
});
