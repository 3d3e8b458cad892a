// Stream tickets are capped on both stores (src/server/approval-feed.ts): an approver who asks
// for ticket after ticket without using them gets a 429 once the cap is reached, in this
// process's memory (SQLite: one instance) and in the table every instance shares (PostgreSQL),
// and gets tickets again once some have expired or been used.
import { afterAll, describe, expect, it } from "vitest";
import type { SharedTickets } from "../../src/approvals/store-api.js";
import type { ApprovalStore } from "../../src/approvals/store-api.js";
import { ApprovalFeed, TICKET_TTL_MS } from "../../src/server/approval-feed.js";
import { RpcError } from "../../src/server/ipc.js";
import type { Principal } from "../../src/server/tokens.js";
import { openStore, storeKinds } from "../approvals/helpers.js";

const approver: Principal = { identity: "alice", role: "approver", approvers: ["finance-oncall"] };
const stores: ApprovalStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
});

/** What `call` throws or rejects with (the memory path throws, the shared one rejects). */
async function refusal(call: () => unknown): Promise<RpcError | undefined> {
  try {
    await call();
    return undefined;
  } catch (e) {
    return e as RpcError;
  }
}

for (const kind of storeKinds("stream ticket cap")) {
  describe.skipIf(!kind.available)(`stream tickets on ${kind.name}`, () => {
    it("at most the cap outstanding: 429 beyond it, tickets again once some expire or are used", async () => {
      let now = 1_700_000_000_000;
      let shared: SharedTickets | null = null;
      if (kind.name === "postgres") {
        const store = await openStore(await kind.fresh());
        stores.push(store);
        shared = store as unknown as SharedTickets;
      }
      const feed = new ApprovalFeed({ list: () => [] }, () => now, shared, 3);
      const first = await feed.ticket({ token_hash: null }, approver);
      await feed.ticket({ token_hash: null }, approver);
      now += TICKET_TTL_MS / 2;
      await feed.ticket({ token_hash: null }, approver);
      const e = await refusal(() => feed.ticket({ token_hash: null }, approver));
      expect(e).toBeInstanceOf(RpcError);
      expect(e).toMatchObject({ status: 429, code: "too_many_requests" });

      // a used ticket makes room
      expect((await feed.redeem({ ticket: first.ticket })).who).toEqual(approver);
      const again = await feed.ticket({ token_hash: null }, approver);
      expect(await refusal(() => feed.ticket({ token_hash: null }, approver))).toMatchObject({ status: 429 });

      // the second one (the first was used) expires: room for one more; the refused ones were never stored
      now += TICKET_TTL_MS / 2;
      await feed.ticket({ token_hash: null }, approver);
      expect(await refusal(() => feed.ticket({ token_hash: null }, approver))).toMatchObject({ status: 429 });
      expect((await feed.redeem({ ticket: again.ticket })).who).toEqual(approver);
    });
  });
}
