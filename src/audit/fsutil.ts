// Durable file operations: atomic replace (write, fsync, rename, fsync dir).

import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes all of `data` at the file's current position (a short write is continued). */
export async function writeAll(fh: import("node:fs/promises").FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}

/** Replaces `path` with `data` so that a crash leaves either the old or the new file. */
export async function replaceFile(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp`);
  try {
    const fh = await open(tmp, "w", mode);
    try {
      await writeAll(fh, typeof data === "string" ? Buffer.from(data, "utf8") : data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined); // a partial temporary file is not left behind
    throw err;
  }
  await fsyncDir(dirname(path));
}
