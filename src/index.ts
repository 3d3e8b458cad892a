// Public API of the Node host.
export { Policy } from "./policy.js";
export type { LoadOptions, PolicyTest } from "./policy.js";
export { PolicyError, formatProblem } from "./errors.js";
export type { PolicyProblem } from "./errors.js";
export { ERROR_TEXT, ErrorCode } from "./decision.js";
export type { Decision, Effect, RuleInfo } from "./decision.js";
export { AuditLog } from "./audit/log.js";
export type { AuditLogOptions, Appended } from "./audit/log.js";
export { auditRecord } from "./audit/record.js";
export type { AuditedPolicy } from "./audit/record.js";
export { redact, REDACTED } from "./audit/redact.js";
export { GENESIS } from "./audit/format.js";
export type { AuditEntry, AuditRecord } from "./audit/format.js";
export { verifyLog } from "./audit/verify.js";
export type { VerifyOptions, VerifyResult } from "./audit/verify.js";
export { AuditError } from "./audit/recover.js";
export type { AuditWarning } from "./audit/recover.js";
