// Human approvals for escalate decisions (docs/approvals.md).

export * from "./approval.js";
export * from "./store.js";
export * from "./notifier.js";
export * from "./approvals.js";
