// `tollgate eval` decides each line as it arrives (spec section 8, "Command line": it "decides
// every line at the current time"): a decision is printed before more input is awaited, so a
// program that writes an action and waits for its answer gets it; and counters see each line at
// the time it arrived, not when input ends.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";

const POLICY = `tollgate: 1
name: windowed
default: allow
counters:
  n: { window: 300ms }
rules:
  - id: twice
    effect: deny
    reason: more than one action in 300 ms
    when: { $n: { gt: 1 } }
`;

/** `tollgate eval` on a stdin we write to; `next()` waits for its next output line. */
function evalSession() {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-eval-stream-"));
  const file = join(dir, "windowed.yaml");
  writeFileSync(file, POLICY);
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const lines: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  let buffered = "";
  stdout.on("data", (d: Buffer) => {
    buffered += d.toString("utf8");
    let at: number;
    while ((at = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const done = main(["eval", file], { stdin, stdout, stderr });
  const next = (ms = 10_000): Promise<string> => {
    const l = lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no decision within ${ms} ms: eval waits for more input before answering`)), ms);
      waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  };
  return { stdin, next, done };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("tollgate eval, line by line", () => {
  it("answers each line before the next is written", async () => {
    const s = evalSession();
    s.stdin.write('{"tool":"a"}\n');
    expect(JSON.parse(await s.next())).toMatchObject({ decision: "allow", counters: { n: 1 } });
    s.stdin.write('{"tool":"b"}\n');
    expect(JSON.parse(await s.next())).toMatchObject({ decision: "deny", rule: "twice", counters: { n: 2 } });
    // a line split across writes is decided once it is complete
    s.stdin.write('{"tool"');
    await sleep(20);
    s.stdin.write(':"c"}\n');
    expect(JSON.parse(await s.next())).toMatchObject({ decision: "deny" });
    s.stdin.end();
    expect(await s.done).toBe(0);
  });

  it("counters see each line at the time it arrived, not when input ends", async () => {
    const s = evalSession();
    s.stdin.write('{"tool":"a"}\n');
    await s.next();
    await sleep(450); // past the 300 ms window
    s.stdin.write('{"tool":"b"}\n');
    expect(JSON.parse(await s.next())).toMatchObject({ decision: "allow", counters: { n: 1 } });
    s.stdin.end();
    expect(await s.done).toBe(0);
  });

  it("lines that arrive together are decided together, in order", async () => {
    const s = evalSession();
    s.stdin.end('{"tool":"a"}\n{"tool":"b"}\nnot json\n{"tool":"c"}');
    const out = [await s.next(), await s.next(), await s.next(), await s.next()].map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out.map((d) => d.decision)).toEqual(["allow", "deny", "deny", "deny"]);
    expect(out[2]!.error).toBeDefined();
    expect(await s.done).toBe(0);
  });
});
