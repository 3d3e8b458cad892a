// `tollgate serve --audit-witness FILE`: every checkpoint of the server's audit log also goes to
// the witness, and verify checks the log against it.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { verifyLog } from "../../src/audit/verify.js";
import { cleanBuild, http, REFUND_SMALL, startServer, tempDir } from "./helpers.js";

afterAll(cleanBuild);

describe("serve --audit-witness", () => {
  it("sends the checkpoints to the witness file; after a stop it covers every record", async () => {
    const witness = join(tempDir(), "checkpoint.json");
    const server = await startServer({ args: ["--audit-witness", witness] });
    try {
      for (let i = 0; i < 5; i++) expect((await http(server, "POST", "/v1/decide", { token: "agent", body: { action: REFUND_SMALL } })).status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    expect(existsSync(witness)).toBe(true);
    const cp = JSON.parse(readFileSync(witness, "utf8")) as { seq: number };
    expect(cp.seq).toBe(5);
    expect(await verifyLog(server.auditDir, { witness })).toMatchObject({ ok: true, records: 5, witnessSeq: 5 });
  }, 30_000);

  it("refuses to start when the witness's directory is not there (a missing mount)", async () => {
    await expect(startServer({ args: ["--audit-witness", join(tempDir(), "not-mounted", "checkpoint.json")] })).rejects.toThrow(/the witness's directory .*not-mounted does not exist/);
  }, 30_000);
});
