// A cycle through a type-only import (as CommandIo was): no-cycle-src.
import { check } from "./check.js";
export interface CommandIo { out: string[] }
export const commands = { check };
