// Opens the approvals store a location names (docs/approvals.md): a postgres:// or postgresql://
// URL is PostgreSQL (postgres-store.ts, loaded — and `pg` with it — only by those who use it),
// anything else a SQLite file (store.ts, the embedded default).

import type { ApprovalStore } from "./store-api.js";
import { isPostgresUrl } from "./store-api.js";
import { SqliteApprovalStore } from "./store.js";
import type { PostgresStoreOptions } from "./postgres-store.js";

export type { PostgresStoreOptions } from "./postgres-store.js";

/** A SQLite file, or a PostgreSQL URL (`?schema=NAME` picks the schema; `postgres` options for the rest). */
export async function openApprovalStore(location: string, postgres: PostgresStoreOptions = {}): Promise<ApprovalStore> {
  if (isPostgresUrl(location)) {
    const { PostgresApprovalStore } = await import("./postgres-store.js");
    return PostgresApprovalStore.open(location, postgres);
  }
  return SqliteApprovalStore.open(location);
}
