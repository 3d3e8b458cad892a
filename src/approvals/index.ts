// Human approvals for escalate decisions (docs/approvals.md).

export * from "./approval.js";
export * from "./store-api.js";
export * from "./store.js";
export * from "./open-store.js";
// The PostgreSQL store's class as a type only: `pg` is loaded by openApprovalStore, when used.
export type { PostgresApprovalStore } from "./postgres-store.js";
export * from "./notifier.js";
export * from "./approvals.js";
