// Upstream#lists (src/mcp/upstream.ts): a tool name is checked against the upstream's own list;
// a name not in it makes the upstream list its tools again, once for all the calls waiting, and
// not again for the same missing name for a while (calls to unknown names cannot make the
// upstream list its tools at every call).

import { describe, expect, it } from "vitest";
import { Upstream } from "../../src/mcp/upstream.js";

/** An Upstream whose tools/list is counted and returns `names` (nothing else of it is used). */
function upstream(names: string[]): { u: Upstream; lists: () => number } {
  let n = 0;
  const u = Object.create(Upstream.prototype) as Upstream & Record<string, unknown>;
  Object.assign(u, { listed: null, listing: null, missed: new Map() });
  u.listTools = async () => {
    n++;
    await new Promise((r) => setTimeout(r, 10));
    (u as unknown as { listed: Set<string> }).listed = new Set(names);
    return [];
  };
  return { u, lists: () => n };
}

describe("Upstream#lists", () => {
  it("lists once for all the calls waiting, and not again for a name it just did not have", async () => {
    const { u, lists } = upstream(["echo"]);
    expect(await Promise.all([u.lists("ECHO"), u.lists("echo "), u.lists("echo")])).toEqual([false, false, true]);
    expect(lists()).toBe(1);
    expect(await u.lists("ECHO")).toBe(false);
    expect(await u.lists("echo")).toBe(true);
    expect(lists()).toBe(1);
  });
});
