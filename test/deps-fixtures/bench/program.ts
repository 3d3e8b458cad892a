// A benchmark: test/support/ is fine, another test file is not (bench-only-to-test-support),
// nor an import that does not resolve (no-unresolvable).
import { util } from "../test/support/util.js";
import { other } from "../test/other.js";
import { gone } from "./missing.js";
export function program(): number { return util() + other() + gone; }
