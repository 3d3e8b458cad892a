// A test importing a benchmark program: test-not-to-bench. Importing test/support/ is fine.
import { program } from "../bench/program.js";
import { helper } from "./support/helper.js";
export const n = program() + helper();
