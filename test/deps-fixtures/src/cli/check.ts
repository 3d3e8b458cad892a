import type { CommandIo } from "./main.js";
export function check(io: CommandIo): number { return io.out.length; }
