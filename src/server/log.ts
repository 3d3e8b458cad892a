// Structured JSON log lines (the same shape as fastify's pino lines in the workers), written to
// standard output while it is there (log-output.ts: a closed pipe never takes the server down).

import { stdoutLog } from "./log-output.js";

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
export type LevelName = keyof typeof LEVELS;

export class Log {
  private readonly min: number;

  constructor(
    level: LevelName,
    private readonly base: Record<string, unknown> = {},
    private readonly out: (line: string) => void = stdoutLog().write,
  ) {
    this.min = LEVELS[level];
  }

  private emit(level: number, msg: string, fields?: Record<string, unknown>): void {
    if (level < this.min) return;
    this.out(JSON.stringify({ level, time: Date.now(), ...this.base, msg, ...fields }) + "\n");
  }

  /** Always written, whatever the level (the "listening" line that scripts wait for). */
  notice(msg: string, fields?: Record<string, unknown>): void {
    this.out(JSON.stringify({ level: 30, time: Date.now(), ...this.base, msg, ...fields }) + "\n");
  }
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.emit(20, msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.emit(30, msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.emit(40, msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.emit(50, msg, fields);
  }
}
