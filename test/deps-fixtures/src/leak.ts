// Shipped code importing test support and a benchmark: src-not-to-test-or-bench (twice).
import { helper } from "../test/support/helper.js";
import { program } from "../bench/program.js";
export const leak = helper() + program();
