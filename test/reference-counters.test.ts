// Spec section 8 (counters) and the sequence tests of section 7, in the
// reference interpreter (test/support/reference/): cases taken from the spec's
// text, bullet by bullet (test/counter-cases.ts). The reference is the oracle
// the core and both hosts are checked against (issue 13); the same cases run
// against the engine in test/engine-counters.test.ts.
import { counterCases } from "./counter-cases.js";
import {
  CounterState, ReferencePolicy, ReferencePolicyError, ReferenceSession, checkManifest,
} from "./support/reference/index.js";
import { runTests } from "./support/reference/tests.js";

counterCases({
  Session: ReferenceSession,
  Policy: ReferencePolicy,
  CounterState,
  PolicyError: ReferencePolicyError,
  checkManifest,
  runTests,
});
