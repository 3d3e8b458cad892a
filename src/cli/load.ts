// Loading the policy named on the command line, printing every error on failure.

import type { Writable } from "node:stream";
import { Policy } from "../policy.js";
import { PolicyError } from "../errors.js";
import { write } from "./io.js";

/** The policy, or null after printing its errors (one `FILE:LINE:COL: error: ...` per line). */
export async function loadPolicy(path: string, errors: Writable): Promise<Policy | null> {
  try {
    return Policy.fromFile(path);
  } catch (err) {
    if (err instanceof PolicyError) {
      await write(errors, err.format() + "\n");
      return null;
    }
    throw err;
  }
}
