// `tollgate eval` input lines: split on bytes as node:readline splits, decoded as strict UTF-8.

import { Readable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NOT_UTF8, readLines } from "../src/cli/lines.js";

async function lines(chunks: (string | Buffer)[]): Promise<string[]> {
  const out: string[] = [];
  for await (const l of readLines(Readable.from(chunks.map((c) => (typeof c === "string" ? Buffer.from(c, "utf8") : c))))) out.push(l);
  return out;
}

/** What node:readline (crlfDelay: Infinity) makes of the same text: the reference for valid UTF-8. */
async function readlineLines(text: string): Promise<string[]> {
  const { createInterface } = await import("node:readline");
  const out: string[] = [];
  for await (const l of createInterface({ input: Readable.from([Buffer.from(text, "utf8")]), crlfDelay: Infinity })) out.push(l);
  return out;
}

describe("readLines", () => {
  it("ends a line at \\n, \\r\\n or a lone \\r; a final break starts no line", async () => {
    expect(await lines(["a\nb\r\nc\rd\n\ne"])).toEqual(["a", "b", "c", "d", "", "e"]);
    expect(await lines(["a\n"])).toEqual(["a"]);
    expect(await lines(["a\r"])).toEqual(["a"]);
    expect(await lines([""])).toEqual([]);
    expect(await lines(["\n"])).toEqual([""]);
  });

  it("joins lines split across chunks, a \\r\\n split between two chunks included", async () => {
    expect(await lines(["{\"to", "ol\":1}\r", "\n{}", "\r", "", "x"])).toEqual(['{"tool":1}', "{}", "x"]);
    const euro = Buffer.from("€\n", "utf8"); // a multi-byte character cut between chunks
    expect(await lines([euro.subarray(0, 1), euro.subarray(1, 2), euro.subarray(2)])).toEqual(["€"]);
  });

  it("splits as node:readline does, however the bytes are chunked", async () => {
    const piece = fc.constantFrom("a", "é", "😀", "{}", "\n", "\r", "\r\n", " ", '"');
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 6 }), async (parts, cuts) => {
        const text = parts.join("");
        const bytes = Buffer.from(text, "utf8");
        const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const c of [...at, bytes.length]) {
          chunks.push(bytes.subarray(prev, c));
          prev = c;
        }
        expect(await lines(chunks)).toEqual(await readlineLines(text));
      }),
      { numRuns: 300 },
    );
  });

  it("yields NOT_UTF8 for a line whose bytes are not UTF-8, and goes on", async () => {
    const bad = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d, 0x0a]); // {"a":"\xc3("}
    expect(await lines([Buffer.from("{}\n"), bad, Buffer.from("\u00e9\n")])).toEqual(["{}", NOT_UTF8, "é"]);
    expect(await lines([Buffer.from([0xed, 0xa0, 0x80, 0x0a])])).toEqual([NOT_UTF8]); // an encoded lone surrogate
    expect(() => JSON.parse(NOT_UTF8)).toThrow();
  });

  it("keeps a byte-order mark (so a line starting with one is not JSON)", async () => {
    expect(await lines([Buffer.from("\ufeff{}\n", "utf8")])).toEqual(["\ufeff{}"]);
  });
});
