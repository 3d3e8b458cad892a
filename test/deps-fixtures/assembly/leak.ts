// The core importing a test: assembly-not-to-test-or-bench.
import { other } from "../test/other";
export const x = other();
