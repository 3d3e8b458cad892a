// Public API of the Node host.
export { Policy } from "./policy.js";
export type { LoadOptions, PolicyTest } from "./policy.js";
export { PolicyError, formatProblem } from "./errors.js";
export type { PolicyProblem } from "./errors.js";
export { ERROR_TEXT, ErrorCode } from "./decision.js";
export type { Decision, Effect, RuleInfo } from "./decision.js";
