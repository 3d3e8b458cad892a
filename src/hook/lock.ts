// One hook at a time per audit directory. Claude Code starts a hook process per tool call and
// may start several at once; each reads the counters, decides and appends to the one hash chain,
// so they must take turns. The lock is an exclusive SQLite transaction on DIR/hook.lock: the
// operating system's file lock, released by the kernel when the holder exits however it exits
// (a hook killed at Claude Code's timeout leaves no stale lock behind, and no pid to mistake).

import Database from "better-sqlite3";
import { join } from "node:path";

export const HOOK_LOCK_FILE = "hook.lock";

export class LockTimeout extends Error {
  override name = "LockTimeout";
}

/** Takes the directory's hook lock, waiting up to `timeoutMs` (synchronously: SQLite's busy handler); returns its release. */
export function acquireHookLock(dir: string, timeoutMs: number): () => void {
  const db = new Database(join(dir, HOOK_LOCK_FILE), { timeout: Math.max(1, Math.round(timeoutMs)) });
  try {
    db.exec("BEGIN EXCLUSIVE");
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === "SQLITE_BUSY") throw new LockTimeout(`another hook held ${join(dir, HOOK_LOCK_FILE)} for ${Math.round(timeoutMs)} ms`);
    throw err;
  }
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    try {
      db.exec("COMMIT");
    } finally {
      db.close();
    }
  };
}
