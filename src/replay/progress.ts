// A progress bar for long replays, on a terminal only: bytes read of the total when it is known
// (files, audit segments), else a count; actions replayed and their rate. Redrawn at most every
// 100 ms on one line ("\r"), erased when done. Piped or redirected, it writes nothing.

import type { Writable } from "node:stream";

const WIDTH = 30;
const EVERY_MS = 100;

export class Progress {
  private bytes = 0;
  private actions = 0;
  private lastDraw = 0;
  private drawn = false;
  private started = Date.now();
  private label = "";

  private constructor(
    private readonly out: Writable,
    private total: number | null,
  ) {}

  /** A bar on `out` if it is a terminal; null otherwise (nothing to draw). */
  static on(out: Writable, total: number | null): Progress | null {
    return (out as { isTTY?: boolean }).isTTY === true ? new Progress(out, total) : null;
  }

  /** Replaying starts: `total` bytes to read (null: unknown), counted from here. */
  start(total: number | null): void {
    this.total = total;
    this.bytes = 0;
    this.started = Date.now();
    this.label = "";
    this.draw(true);
  }

  /** What is happening now ("opening audit/", a source's name). */
  phase(label: string): void {
    this.label = label;
    this.draw(true);
  }

  addBytes(n: number): void {
    this.bytes += n;
    this.draw(false);
  }

  setActions(n: number): void {
    this.actions = n;
    this.draw(false);
  }

  /** Draws the final state, then erases the bar (before the report is written). */
  done(): void {
    if (this.drawn) this.draw(true);
    if (this.drawn) this.out.write("\r\x1b[K");
    this.drawn = false;
  }

  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < EVERY_MS) return;
    this.lastDraw = now;
    const secs = Math.max((now - this.started) / 1000, 0.001);
    const rate = Math.round(this.actions / secs);
    let bar = "";
    if (this.total !== null && this.total > 0) {
      const f = Math.min(1, this.bytes / this.total);
      const full = Math.round(f * WIDTH);
      const eta = f > 0.01 && f < 1 ? ` eta ${Math.ceil((secs / f) * (1 - f))}s` : "";
      bar = `[${"#".repeat(full)}${".".repeat(WIDTH - full)}] ${(f * 100).toFixed(0).padStart(3)}%${eta} `;
    }
    this.out.write(`\r\x1b[K${bar}${this.actions.toLocaleString("en-US")} actions, ${rate.toLocaleString("en-US")}/s ${this.label}`);
    this.drawn = true;
  }
}
