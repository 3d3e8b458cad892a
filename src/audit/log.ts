// AuditLog: an append-only, hash-chained, group-committed log of decisions (docs/audit.md).

import { mkdir, open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { checkpointSignatureValid, readCheckpoint, signCheckpoint, writeCheckpoint } from "./checkpoint.js";
import { encodeRecord } from "./format.js";
import type { AuditEntry } from "./format.js";
import { fsyncDir, writeAll } from "./fsutil.js";
import { loadOrCreateKeys } from "./keys.js";
import type { AuditKeys } from "./keys.js";
import { acquireLock } from "./lock.js";
import { AuditError, recoverTail } from "./recover.js";
import type { AuditWarning } from "./recover.js";
import { segmentName } from "./segments.js";

export interface AuditLogOptions {
  /** A segment is closed and a new one started before it would grow past this (default 64 MiB). */
  segmentBytes?: number;
  /** Many records per fdatasync (default true). False: one write and one fdatasync per record. */
  groupCommit?: boolean;
  /** How long the first record of a batch waits for others before the batch is synced (default 2 ms). */
  batchWindowMs?: number;
  /** A batch is synced at once when it has this many records (default 8192). */
  maxBatchRecords?: number;
  /** The checkpoint is re-signed at most this often while appending (default 1000 ms), and on close. */
  checkpointIntervalMs?: number;
  /** Clock for `ts` (default: the system clock). */
  now?: () => Date;
  /** Called with each warning as it happens (they are also kept in `warnings`). */
  onWarning?: (w: AuditWarning) => void;
}

export interface Appended {
  seq: number;
  hash: string;
}

interface Pending {
  seq: number;
  hash: string;
  data: Buffer;
  resolve: (a: Appended) => void;
  reject: (err: Error) => void;
}

export class AuditLog {
  /** Warnings from opening (torn records cut back, key file permissions). */
  readonly warnings: AuditWarning[] = [];

  private pending: Pending[] = [];
  private waiters: { seq: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  private flushing = false;
  private timer: NodeJS.Timeout | undefined;
  private failure: Error | null = null;
  private closed = false;
  private durableSeq: number;
  private durableHash: string;
  private checkpointing: Promise<void> | null = null;
  private lastCheckpointAt = 0;
  private checkpointedSeq = -1;
  private readonly segmentLimit: number;
  private readonly window: number;
  private readonly maxBatch: number;
  private readonly checkpointInterval: number;
  private readonly now: () => Date;

  private constructor(
    readonly dir: string,
    private readonly keys: AuditKeys,
    private fh: FileHandle,
    private segmentSize: number,
    private seq: number,
    private last: string,
    private readonly unlock: () => Promise<void>,
    options: AuditLogOptions,
  ) {
    this.durableSeq = seq;
    this.durableHash = last;
    this.segmentLimit = options.segmentBytes ?? 64 * 1024 * 1024;
    const group = options.groupCommit ?? true;
    this.window = group ? options.batchWindowMs ?? 2 : 0;
    this.maxBatch = group ? Math.max(1, options.maxBatchRecords ?? 8192) : 1;
    this.checkpointInterval = options.checkpointIntervalMs ?? 1000;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Opens (creating if needed) the log in `dir`: takes the lock, loads or generates the key
   * pair, recovers a torn tail, and checks that the log is not shorter than its checkpoint.
   */
  static async open(dir: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const unlock = await acquireLock(dir);
    const warnings: AuditWarning[] = [];
    const warn = (w: AuditWarning) => {
      warnings.push(w);
      options.onWarning?.(w);
    };
    try {
      const keys = await loadOrCreateKeys(dir);
      if (keys.insecureMode !== undefined) {
        const file = join(dir, "audit.key");
        warn({ code: "key-permissions", file, message: `${file}: the private key has mode ${keys.insecureMode.toString(8)}; it should be 600` });
      }
      const tail = await recoverTail(dir, warn);
      const read = await readCheckpoint(dir);
      if ("error" in read) throw new AuditError(read.error, join(dir, "checkpoint.json"));
      const cp = read.checkpoint;
      if (cp !== null) {
        const where = join(dir, "checkpoint.json");
        if (!checkpointSignatureValid(cp, keys.publicKey)) throw new AuditError("the checkpoint signature does not verify with the log's key", where);
        if (cp.seq > tail.lastSeq) throw new AuditError(`the log ends at seq ${tail.lastSeq} but the checkpoint says ${cp.seq}: records were deleted`, where);
        if (cp.seq === tail.lastSeq && cp.hash !== tail.lastHash) throw new AuditError(`the checkpoint's hash does not match record ${cp.seq}`, where);
      }
      const fh = await open(join(dir, tail.segment), "a", 0o600);
      if (tail.created) await fsyncDir(dir);
      const log = new AuditLog(dir, keys, fh, tail.segmentBytes, tail.lastSeq, tail.lastHash, unlock, options);
      log.warnings.push(...warnings);
      if (cp === null || cp.seq !== tail.lastSeq) await log.checkpoint();
      return log;
    } catch (err) {
      await unlock();
      throw err;
    }
  }

  /** SPKI PEM of the key checkpoints are signed with (to keep elsewhere for `--public-key`). */
  get publicKeyPem(): string {
    return this.keys.publicKeyPem;
  }

  /** The seq of the last record appended (not necessarily durable yet); 0 for an empty log. */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * Appends one record. The chain position (seq, prev, hash) is fixed synchronously, in call
   * order; the promise resolves when the record is on disk (after fdatasync), and rejects if
   * the write or the sync failed — after which the log refuses all further appends.
   */
  append(entry: AuditEntry): Promise<Appended> {
    if (this.closed) return Promise.reject(new AuditError("the audit log is closed", this.dir));
    if (this.failure) return Promise.reject(this.failure);
    const seq = this.seq + 1;
    const { hash, line } = encodeRecord(entry, seq, this.timestamp(), this.last);
    this.seq = seq;
    this.last = hash;
    return new Promise<Appended>((resolve, reject) => {
      this.pending.push({ seq, hash, data: Buffer.from(line, "utf8"), resolve, reject });
      this.kick();
    });
  }

  /** Resolves when everything appended so far is durable. */
  async flush(): Promise<void> {
    const seq = this.seq;
    if (this.failure) throw this.failure;
    if (this.durableSeq >= seq) return;
    if (this.timer) this.startNow();
    await new Promise<void>((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  /** Writes a signed checkpoint of the last durable record (atomically replacing the old one). */
  async checkpoint(): Promise<void> {
    while (this.checkpointing) await this.checkpointing;
    if (this.checkpointedSeq === this.durableSeq) return;
    const seq = this.durableSeq;
    const hash = this.durableHash;
    this.checkpointing = (async () => {
      const cp = signCheckpoint({ seq, hash, key_id: this.keys.keyId, ts: this.now().toISOString() }, this.keys.privateKey);
      await writeCheckpoint(this.dir, cp);
      this.checkpointedSeq = seq;
      this.lastCheckpointAt = Date.now();
    })();
    try {
      await this.checkpointing;
    } finally {
      this.checkpointing = null;
    }
  }

  /** Syncs what is pending, writes a final checkpoint, closes the segment and the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true; // no more appends
    try {
      await this.flush();
      await this.checkpoint();
    } finally {
      this.closed = true;
      if (this.timer) clearTimeout(this.timer);
      await this.fh.close().catch(() => undefined);
      await this.unlock();
    }
  }

  private lastTsMs = NaN;
  private lastTs = "";

  /** `ts` of a new record; the string is reused within a millisecond. */
  private timestamp(): string {
    const d = this.now();
    const ms = d.getTime();
    if (ms !== this.lastTsMs) {
      this.lastTsMs = ms;
      this.lastTs = d.toISOString();
    }
    return this.lastTs;
  }

  private kick(): void {
    if (this.flushing) return; // the running flush loop takes it
    if (this.pending.length >= this.maxBatch || this.window <= 0) {
      this.startNow();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flushLoop();
      }, this.window);
    }
  }

  private startNow(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    void this.flushLoop();
  }

  private async flushLoop(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length > 0 && !this.failure) {
        let batch: Pending[];
        if (this.pending.length <= this.maxBatch) {
          batch = this.pending;
          this.pending = [];
        } else {
          batch = this.pending.splice(0, this.maxBatch);
        }
        try {
          await this.writeBatch(batch);
        } catch (err) {
          this.fail(err as Error, batch);
          return;
        }
        const lastRec = batch[batch.length - 1]!;
        this.durableSeq = lastRec.seq;
        this.durableHash = lastRec.hash;
        for (const p of batch) p.resolve({ seq: p.seq, hash: p.hash });
        if (this.waiters.length > 0) {
          const done = this.waiters.filter((w) => w.seq <= this.durableSeq);
          this.waiters = this.waiters.filter((w) => w.seq > this.durableSeq);
          for (const w of done) w.resolve();
        }
        this.maybeCheckpoint();
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    let i = 0;
    while (i < batch.length) {
      if (this.segmentSize > 0 && this.segmentSize + batch[i]!.data.length > this.segmentLimit) await this.rotate(batch[i]!.seq);
      let j = i;
      let size = this.segmentSize;
      while (j < batch.length && (j === i || size + batch[j]!.data.length <= this.segmentLimit)) size += batch[j++]!.data.length;
      const data = j - i === 1 ? batch[i]!.data : Buffer.concat(batch.slice(i, j).map((p) => p.data), size - this.segmentSize);
      await writeAll(this.fh, data);
      this.segmentSize = size;
      i = j;
    }
    await this.fh.datasync();
  }

  /** Closes the full segment (synced) and starts the next, named for its first record. */
  private async rotate(firstSeq: number): Promise<void> {
    await this.fh.datasync();
    await this.fh.close();
    this.fh = await open(join(this.dir, segmentName(firstSeq)), "a", 0o600);
    await fsyncDir(this.dir);
    this.segmentSize = 0;
  }

  private fail(err: Error, batch: Pending[]): void {
    // After a failed write or sync the file's state is unknown: fail closed, for good.
    this.failure = new AuditError(`audit write failed: ${err.message}`, this.dir);
    const all = batch.concat(this.pending);
    this.pending = [];
    for (const p of all) p.reject(this.failure);
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  private maybeCheckpoint(): void {
    if (this.checkpointing || this.closed) return;
    if (Date.now() - this.lastCheckpointAt < this.checkpointInterval) return;
    this.checkpoint().catch((err: Error) => {
      this.failure ??= new AuditError(`checkpoint write failed: ${err.message}`, this.dir);
    });
  }
}
