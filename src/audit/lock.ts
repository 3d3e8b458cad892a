// One writer per audit directory: `audit.lock` holds the writer's pid.

import { open, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { resolve } from "node:path";
import { AuditError } from "./recover.js";

export const LOCK_FILE = "audit.lock";
const heldHere = new Set<string>();

/** The lock is held by a running process (this one, or the one whose pid it names): the log has its writer. */
export class AuditLockHeld extends AuditError {
  constructor(message: string, dir: string, readonly pid: number) {
    super(message, dir); // named AuditError still: callers that check the name see what they did
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the directory's lock; a lock left by a process that no longer runs is taken over. */
export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const key = resolve(dir);
  if (heldHere.has(key)) throw new AuditLockHeld("the audit log is already open in this process", dir, process.pid);
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, "wx", 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      heldHere.add(key);
      return async () => {
        heldHere.delete(key);
        await unlink(path).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number((await readFile(path, "utf8").catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new AuditLockHeld(`the audit log is open in process ${pid}`, dir, pid);
      }
      await unlink(path).catch(() => undefined); // stale
    }
  }
  throw new AuditError("cannot take the audit lock", dir);
}
