// Shared support importing another test file (test-support-self-contained) and a benchmark
// (test-not-to-bench); importing the rest of test/support/ is fine.
import { other } from "../other.js";
import { program } from "../../bench/program.js";
import { util } from "./util.js";
export function helper(): number { return other() + program() + util(); }
