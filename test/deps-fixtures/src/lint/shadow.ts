// Lint reaching into the engine: lint-reads-the-manifest-only.
import { policy } from "../policy.js";
export const shadow = policy;
