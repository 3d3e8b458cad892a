// AuditLog: an append-only, hash-chained, group-committed log of decisions (docs/audit.md).

import { hash as oneShotHash } from "node:crypto";
import { mkdir, open, stat } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CHECKPOINT_FILE, checkpointSignatureValid, readCheckpoint, signCheckpoint, writeCheckpoint } from "./checkpoint.js";
import type { Checkpoint } from "./checkpoint.js";
import { isProblem, walkChain } from "./chain.js";
import { eventEntry } from "./events.js";
import { GENESIS, HASH_KEY, recordParts } from "./format.js";
import type { AuditEntry } from "./format.js";
import { fsyncDir, writeAll } from "./fsutil.js";
import { CountedSeal } from "./counted-seal.js";
import { loadOrCreateKeys, PRIVATE_KEY_FILE } from "./keys.js";
import type { AuditKeys } from "./keys.js";
import { acquireLock } from "./lock.js";
import { AuditError, cutTornTail, OPEN_ADVICE, recoverTail } from "./recover.js";
import type { AuditWarning, TailState } from "./recover.js";
import { listSegments, segmentName } from "./segments.js";
import { deliverCheckpoint, isWitnessUrl, readWitness } from "./witness.js";
import { findRecord } from "./read.js";

export interface AuditLogOptions {
  /** A segment is closed and a new one started before it would grow past this (default 64 MiB). */
  segmentBytes?: number;
  /** Many records per fdatasync (default true). False: one write and one fdatasync per record. */
  groupCommit?: boolean;
  /**
   * How long the first record of a batch waits for others before the batch is synced (default
   * 2 ms). 0: until the end of the current event-loop turn (`setImmediate`), so the records of
   * every message read in that turn share the batch, with no timer delay. Records that arrive
   * while a batch is being written and synced go in the next batch either way.
   */
  batchWindowMs?: number;
  /** A batch holds at most this many records (default 8192); more wait for the next batch. */
  maxBatchRecords?: number;
  /**
   * While no sync is running, a batch starts without waiting out the window once it has this
   * many records (default 256), so that the next records are encoded while it is written and
   * synced. Records appended meanwhile go in the next batch (up to `maxBatchRecords`).
   */
  startBatchRecords?: number;
  /**
   * Every durable record is covered by a signed checkpoint within this many ms (default 1000),
   * whatever the traffic: at once after a batch if the last checkpoint is older, else by a timer.
   */
  checkpointIntervalMs?: number;
  /**
   * Where every checkpoint also goes, outside the audit directory: a file path (replaced
   * atomically) or an http(s) URL (POSTed). Delivery never blocks appends; a failure is a
   * `witness` warning. `tollgate audit verify --witness` checks the log against it.
   */
  witness?: string;
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
  /** Where the record's line starts in the batch buffer (`AuditLog#fill`). */
  at: number;
  resolve: (a: Appended) => void;
  reject: (err: Error) => void;
}

const IGNORE = (): void => undefined;

/** Initial size of a batch buffer; it grows for larger batches (and is dropped past MAX_KEPT). */
const INITIAL_BUFFER = 1 << 20;
const MAX_KEPT_BUFFER = 32 << 20;
/** Bytes between the end of `head` and the start of `tail` in a line: `,"hash":"<64 hex>"`. */
const HASH_FIELD = HASH_KEY.length + 64 + 1;

export class AuditLog {
  /** Warnings from opening (torn records cut back, key file permissions). */
  readonly warnings: AuditWarning[] = [];

  private pending: Pending[] = [];
  /**
   * The lines of the pending records, encoded as they are appended (one UTF-8 encoding per
   * record, hashed from these bytes); `used` bytes of it are taken. While one batch is being
   * written from one buffer, the next fills the other (`spare`).
   */
  private fill: Buffer = Buffer.allocUnsafe(INITIAL_BUFFER);
  private used = 0;
  private spare: Buffer | null = null;
  private waiters: { seq: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  private flushing = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private readonly group: boolean;
  private failure: Error | null = null;
  private closed = false;
  private durableSeq: number;
  private durableHash: string;
  private checkpointing: Promise<void> | null = null;
  /** Signs the next checkpoint when the interval since the last one is up. */
  private checkpointTimer: NodeJS.Timeout | undefined;
  private readonly witness: string | undefined;
  /** The newest checkpoint not yet handed to the witness, and the delivery under way. */
  private witnessNext: Checkpoint | null = null;
  private witnessRunning: Promise<void> | null = null;
  /** Set by `open`: where warnings after opening go (e.g. a witness that cannot be reached). */
  private onWarning: ((w: AuditWarning) => void) | undefined;
  /** When the last checkpoint was signed; at open the log is covered (by the one found or written). */
  private lastCheckpointAt = Date.now();
  private checkpointedSeq = -1;
  private readonly segmentLimit: number;
  private readonly window: number;
  private readonly maxBatch: number;
  private readonly startBatch: number;
  private readonly checkpointInterval: number;
  private readonly now: () => Date;
  private seal: CountedSeal | undefined;
  private readonly systemClock: boolean;

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
    this.group = group;
    this.window = group ? Math.max(0, options.batchWindowMs ?? 2) : 0;
    this.maxBatch = group ? Math.max(1, options.maxBatchRecords ?? 8192) : 1;
    this.startBatch = Math.min(this.maxBatch, Math.max(1, options.startBatchRecords ?? 256));
    this.checkpointInterval = options.checkpointIntervalMs ?? 1000;
    this.now = options.now ?? (() => new Date());
    this.systemClock = options.now === undefined;
    this.witness = options.witness;
  }

  private warn(w: AuditWarning): void {
    this.warnings.push(w);
    this.onWarning?.(w);
  }

  /**
   * Opens (creating if needed) the log in `dir`: takes the lock, loads the key pair (generated
   * for a new log only), verifies the log from its checkpoint to the end (and against the
   * witness, if there is one), and only then cuts a torn tail and names unsigned records with
   * a `recover` record. A log that does not verify is an AuditError, and nothing is written.
   */
  static async open(dir: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const unlock = await acquireLock(dir);
    const warnings: AuditWarning[] = [];
    const warn = (w: AuditWarning) => {
      warnings.push(w);
      options.onWarning?.(w);
    };
    let log: AuditLog | undefined;
    try {
      const tail = await recoverTail(dir);
      const where = join(dir, CHECKPOINT_FILE);
      const read = await readCheckpoint(dir);
      if ("error" in read) throw damaged(read.error, where);
      const cp = read.checkpoint;
      // A new key for an existing log would replace the evidence of whose key signed it.
      if (!(await exists(join(dir, PRIVATE_KEY_FILE))) && (cp !== null || tail.lastSeq > 0)) {
        throw damaged(`${PRIVATE_KEY_FILE} is missing but the log ${tail.lastSeq > 0 ? `holds records up to seq ${tail.lastSeq}` : "has a checkpoint"} (a new key would sign over it)`, join(dir, PRIVATE_KEY_FILE));
      }
      const keys = await loadOrCreateKeys(dir);
      if (keys.insecureMode !== undefined) {
        const file = join(dir, "audit.key");
        warn({ code: "key-permissions", file, message: `${file}: the private key has mode ${keys.insecureMode.toString(8)}; it should be 600` });
      }
      const unsigned = await checkFromCheckpoint(dir, cp, tail, keys, Math.max(options.checkpointIntervalMs ?? 1000, 1000));
      if (options.witness !== undefined) await checkAgainstWitness(dir, options.witness, tail, keys);
      await cutTornTail(tail, warn); // only now that the log is known to verify
      const fh = await open(join(dir, tail.segment), "a", 0o600);
      if (tail.created) await fsyncDir(dir);
      log = new AuditLog(dir, keys, fh, tail.segmentBytes, tail.lastSeq, tail.lastHash, unlock, options);
      log.warnings.push(...warnings);
      log.onWarning = options.onWarning;
      if (unsigned !== null) {
        // A crash left records the timer had not signed yet (some may have been acknowledged):
        // keep them, and say so in the log itself, so that every later verify sees it.
        log.warn({
          code: "unsigned-tail",
          file: where,
          message: `${unsigned.count} record${unsigned.count === 1 ? "" : "s"} after the checkpoint (seq ${unsigned.first}..${unsigned.last}) were not signed; they verify by the chain and are kept, named by a 'recover' record`,
        });
        await log.append(eventEntry({ event: "recover", unsigned, checkpoint: { seq: cp!.seq, hash: cp!.hash } }));
      }
      if (cp === null || cp.seq !== log.lastSeq) await log.checkpoint();
      return log;
    } catch (err) {
      if (log !== undefined) await log.close().catch(() => undefined);
      else await unlock();
      throw err;
    }
  }

  /** The seal of counter values a record must not show (counted-seal.ts), from this log's key. */
  get countedSeal(): CountedSeal {
    return (this.seal ??= CountedSeal.of(this.keys.privateKey));
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
   * the write or the sync failed — after which the log refuses all further appends. Throws
   * (synchronously, leaving the chain as it was) for a bad entry.
   */
  append(entry: AuditEntry): Promise<Appended> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const { seq, hash, at } = this.place(entry, this.timestamp());
    return new Promise<Appended>((resolve, reject) => {
      this.pending.push({ seq, hash, at, resolve, reject });
      this.kick();
    });
  }

  /**
   * Appends `entries` as consecutive records, in order, with one promise for all of them: it
   * resolves with the first record's seq and every record's hash once the last is on disk (so
   * all are), and rejects as `append` does. For a writer that receives records in groups (the
   * server's primary: one IPC message from a worker) this saves a promise per record. All or
   * nothing: a bad entry throws synchronously and none of them is appended.
   */
  appendMany(entries: readonly AuditEntry[]): Promise<{ seq: number; hashes: string[] }> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const first = this.seq + 1;
    const n = entries.length;
    if (n === 0) return Promise.resolve({ seq: first, hashes: [] });
    const saved = { seq: this.seq, last: this.last, used: this.used, pending: this.pending.length };
    const hashes = new Array<string>(n);
    let settle!: { resolve: (v: { seq: number; hashes: string[] }) => void; reject: (err: Error) => void };
    const done = new Promise<{ seq: number; hashes: string[] }>((resolve, reject) => (settle = { resolve, reject }));
    const ts = this.timestamp();
    try {
      for (let i = 0; i < n; i++) {
        const { seq, hash, at } = this.place(entries[i]!, ts);
        hashes[i] = hash;
        // Records are made durable in order: the group is durable when its last record is.
        const resolve = i === n - 1 ? () => settle.resolve({ seq: first, hashes }) : IGNORE;
        this.pending.push({ seq, hash, at, resolve, reject: settle.reject });
      }
    } catch (err) {
      // Nothing was handed to the flush loop yet (no kick in between): undo the records placed.
      this.seq = saved.seq;
      this.last = saved.last;
      this.used = saved.used;
      this.pending.length = saved.pending;
      throw err;
    }
    this.kick();
    return done;
  }

  /** Why no record can be appended now, if so. */
  private refusal(): Error | null {
    if (this.closed) return new AuditError("the audit log is closed", this.dir);
    return this.failure;
  }

  /**
   * Encodes the next record into the batch buffer and advances the chain; throws for a bad
   * entry before anything changes. The caller queues it (a Pending) and kicks the flush loop.
   */
  private place(entry: AuditEntry, ts: string): { seq: number; hash: string; at: number } {
    const seq = this.seq + 1;
    const { head, tail } = recordParts(entry, seq, ts, this.last); // throws for a bad entry
    // The line is head + `,"hash":"<hash>"` + tail + "\n"; the hash is over head + tail. Encode
    // head and tail adjacently, hash those bytes, then move tail up to make room for the hash.
    const at = this.used;
    const units = head.length + tail.length;
    // UTF-8 takes at most 3 bytes per UTF-16 unit; a large record is measured instead.
    this.reserve((units <= 65536 ? 3 * units : Buffer.byteLength(head, "utf8") + Buffer.byteLength(tail, "utf8")) + HASH_FIELD + 1);
    const buf = this.fill;
    const headEnd = at + buf.write(head, at, "utf8");
    const bodyEnd = headEnd + buf.write(tail, headEnd, "utf8");
    const hash = oneShotHash("sha256", buf.subarray(at, bodyEnd), "hex");
    buf.copyWithin(headEnd + HASH_FIELD, headEnd, bodyEnd);
    buf.write(HASH_KEY, headEnd, "latin1");
    buf.write(hash, headEnd + HASH_KEY.length, "latin1");
    buf[headEnd + HASH_FIELD - 1] = 0x22; // "
    buf[bodyEnd + HASH_FIELD] = 0x0a; // \n
    this.used = bodyEnd + HASH_FIELD + 1;
    this.seq = seq;
    this.last = hash;
    return { seq, hash, at };
  }

  /** Makes room for `bytes` more in the batch buffer. */
  private reserve(bytes: number): void {
    if (this.used + bytes <= this.fill.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(2 * this.fill.length, this.used + bytes));
    this.fill.copy(bigger, 0, 0, this.used);
    this.fill = bigger;
  }

  /**
   * Takes the bytes of the first `count` pending records out of the batch buffer: returns them
   * and the buffer that holds them (to reuse once written); the rest move to the other buffer.
   */
  private takeBytes(count: number): { data: Buffer; holder: Buffer } {
    const holder = this.fill;
    const end = count < this.pending.length ? this.pending[count]!.at : this.used;
    const rest = this.used - end;
    let next = this.spare;
    this.spare = null;
    if (next === null || next.length < rest) next = Buffer.allocUnsafe(Math.max(INITIAL_BUFFER, 2 * rest));
    if (rest > 0) {
      holder.copy(next, 0, end, this.used);
      for (let k = count; k < this.pending.length; k++) this.pending[k]!.at -= end;
    }
    this.fill = next;
    this.used = rest;
    return { data: holder.subarray(0, end), holder };
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
      this.sendToWitness(cp);
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
      while (this.witnessRunning) await this.witnessRunning;
    } finally {
      this.closed = true;
      this.clearTimer();
      clearTimeout(this.checkpointTimer);
      this.checkpointTimer = undefined;
      await this.fh.close().catch(() => undefined);
      await this.unlock();
    }
  }

  private lastTsMs = NaN;
  private lastTs = "";

  /** `ts` of a new record; the string is reused within a millisecond. */
  private timestamp(): string {
    if (this.systemClock) {
      const ms = Date.now(); // no Date object per record
      if (ms !== this.lastTsMs) {
        this.lastTsMs = ms;
        this.lastTs = new Date(ms).toISOString();
      }
      return this.lastTs;
    }
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
    if (this.pending.length >= this.startBatch || !this.group) {
      this.startNow();
    } else if (this.timer === undefined) {
      const start = () => {
        this.timer = undefined;
        void this.flushLoop();
      };
      this.timer = this.window > 0 ? setTimeout(start, this.window) : setImmediate(start);
    }
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    if (this.window > 0) clearTimeout(this.timer as NodeJS.Timeout);
    else clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
  }

  private startNow(): void {
    this.clearTimer();
    void this.flushLoop();
  }

  private async flushLoop(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length > 0 && !this.failure) {
        const count = Math.min(this.pending.length, this.maxBatch);
        const { data, holder } = this.takeBytes(count);
        let batch: Pending[];
        if (count === this.pending.length) {
          batch = this.pending;
          this.pending = [];
        } else {
          batch = this.pending.splice(0, count);
        }
        try {
          await this.writeBatch(batch, data);
        } catch (err) {
          this.fail(err as Error, batch);
          return;
        }
        if (holder.length <= MAX_KEPT_BUFFER) this.spare = holder;
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
        // Those just acknowledged often append again at once (a caller awaiting each record):
        // let them, so that their records go in the next batch without waiting a new window.
        if (this.pending.length === 0 && this.group) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Writes one batch (`data`: the lines of `batch`, in order) and fdatasyncs it. */
  private async writeBatch(batch: Pending[], data: Buffer): Promise<void> {
    const total = data.length;
    if (this.segmentSize + total <= this.segmentLimit || (this.segmentSize === 0 && batch.length === 1)) {
      await writeAll(this.fh, data); // the common case: the batch fits the segment
      this.segmentSize += total;
    } else {
      // The batch crosses the segment limit: split it at record boundaries.
      const base = batch[0]!.at;
      const size = (k: number) => (k + 1 < batch.length ? batch[k + 1]!.at : base + total) - batch[k]!.at;
      let i = 0;
      let off = 0;
      while (i < batch.length) {
        if (this.segmentSize > 0 && this.segmentSize + size(i) > this.segmentLimit) await this.rotate(batch[i]!.seq);
        let j = i;
        let end = this.segmentSize;
        while (j < batch.length && (j === i || end + size(j) <= this.segmentLimit)) end += size(j++);
        const len = end - this.segmentSize;
        await writeAll(this.fh, data.subarray(off, off + len));
        off += len;
        this.segmentSize = end;
        i = j;
      }
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
    this.failWith(new AuditError(`audit write failed: ${err.message}`, this.dir), batch);
  }

  /** Refuses all further appends and rejects everything that is not durable yet. */
  private failWith(failure: AuditError, batch: Pending[]): void {
    this.failure ??= failure;
    const all = batch.concat(this.pending);
    this.pending = [];
    for (const p of all) p.reject(this.failure);
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  /**
   * Sees to it that the durable records are covered by a signed checkpoint within the interval:
   * now if the last checkpoint is that old, else by a timer (so an idle log is covered too).
   */
  private maybeCheckpoint(): void {
    if (this.checkpointing || this.closed || this.failure || this.checkpointTimer !== undefined) return;
    if (this.checkpointedSeq === this.durableSeq) return;
    const wait = this.lastCheckpointAt + this.checkpointInterval - Date.now();
    if (wait > 0) {
      this.checkpointTimer = setTimeout(() => {
        this.checkpointTimer = undefined;
        this.maybeCheckpoint();
      }, wait);
      return;
    }
    // A checkpoint that cannot be written means the disk is failing: stop, and let nothing
    // that is pending or waiting for a flush hang (the flush loop no longer runs).
    this.checkpoint().then(
      () => this.maybeCheckpoint(), // records that became durable meanwhile
      (err: Error) => this.failWith(new AuditError(`checkpoint write failed: ${err.message}`, this.dir), []),
    );
  }

  /** Hands a checkpoint to the witness, newest first: one delivery at a time, none skipped but stale ones. */
  private sendToWitness(cp: Checkpoint): void {
    const witness = this.witness;
    if (witness === undefined) return;
    this.witnessNext = cp;
    if (this.witnessRunning) return;
    this.witnessRunning = (async () => {
      while (this.witnessNext !== null) {
        const next = this.witnessNext;
        this.witnessNext = null;
        try {
          await deliverCheckpoint(witness, next);
        } catch (err) {
          this.warn({ code: "witness", file: witness, message: `${witness}: the checkpoint at seq ${next.seq} could not be delivered to the witness: ${(err as Error).message}` });
        }
      }
      this.witnessRunning = null;
    })();
  }
}
/** How much longer than one checkpoint interval the records a crash left unsigned may span. */
const CRASH_SLACK_MS = 60_000;

function damaged(message: string, file: string, line?: number): AuditError {
  return new AuditError(`${message}; ${OPEN_ADVICE}`, file, line);
}

/**
 * Verifies the log from its checkpoint's position to the end (docs/audit.md, "Recovery on
 * open"): the record at the checkpoint's seq has its hash, and every record after it is valid
 * and linked. Returns the records after the checkpoint (unsigned), or null if there are none.
 * Throws an AuditError for a log that must not be appended to.
 */
async function checkFromCheckpoint(
  dir: string,
  cp: Checkpoint | null,
  tail: TailState,
  keys: AuditKeys,
  interval: number,
): Promise<{ first: number; last: number; count: number } | null> {
  const { lastSeq, lastHash } = tail;
  const where = join(dir, CHECKPOINT_FILE);
  if (cp === null) {
    if (lastSeq === 0) return null; // a new log
    throw damaged(`checkpoint.json is missing but the log holds records up to seq ${lastSeq} (records may have been deleted with it)`, where);
  }
  if (!checkpointSignatureValid(cp, keys.publicKey)) throw damaged("the checkpoint signature does not verify with the log's key", where);
  if (cp.seq > lastSeq) throw damaged(`the log ends at seq ${lastSeq} but the checkpoint says ${cp.seq}: records were deleted`, where);
  if (cp.seq === lastSeq) {
    if (cp.hash !== lastHash) throw damaged(`the checkpoint's hash does not match record ${cp.seq}`, where);
    return null; // the common case: a clean close signed the end
  }
  const segments = await listSegments(dir);
  let start = { segment: 0, line: 0, seq: 1, prev: GENESIS as string | null };
  if (cp.seq > 0) {
    let idx = segments.length - 1;
    while (idx > 0 && segments[idx]!.firstSeq > cp.seq) idx--;
    start = { segment: idx, line: cp.seq - segments[idx]!.firstSeq, seq: cp.seq, prev: null };
  } else if (cp.hash !== GENESIS) {
    throw damaged("the checkpoint at seq 0 does not hold the genesis hash", where);
  }
  const sizes = new Map(tail.cut !== undefined ? [[tail.cut.name, tail.cut.size]] : []);
  // A crash leaves unsigned only what was appended since the last checkpoint, and the timer signs
  // within one interval of the first of those becoming durable (after an idle spell, at once):
  // the unsigned records span about one interval. A longer span means the checkpoint was most
  // likely replaced by an older copy, which would make every record after it editable without
  // the key: refuse (a witness catches this for good).
  const walk = await walkChain(dir, segments, start, new Set([cp.seq]), sizes, { afterSeq: cp.seq, spanMs: interval + CRASH_SLACK_MS });
  if (isProblem(walk)) throw damaged(walk.message, walk.file, walk.line);
  if (walk.lateRecord !== undefined) {
    const r = walk.lateRecord;
    const first = walk.firstAfter!;
    const secs = Math.round((Date.parse(r.ts) - Date.parse(first.ts)) / 1000);
    throw damaged(
      `the records after the checkpoint (seq ${cp.seq}) run from ${first.ts} (seq ${first.seq}) to ${r.ts} (seq ${r.seq}), ${secs} s: more than a crash leaves unsigned (the checkpoint interval is ${interval} ms, plus 60 s), so the checkpoint may have been replaced by an older one`,
      r.file,
      r.line,
    );
  }
  if (cp.seq > 0) {
    const at = walk.at.get(cp.seq);
    if (at === undefined) throw damaged(`record ${cp.seq}, which the checkpoint covers, is not where its segment's name puts it`, join(dir, segments[start.segment]!.name));
    if (at.hash !== cp.hash) throw damaged(`record ${cp.seq} has hash ${at.hash} but the checkpoint says ${cp.hash}`, at.file, at.line);
  }
  const seal = walk.events.find((e) => e.kind === "seal" && e.record.seq > cp.seq);
  if (seal !== undefined) throw damaged(`the seal record at seq ${seal.record.seq} is not covered by the checkpoint (seq ${cp.seq})`, seal.file, seal.line);
  if (walk.lastSeq !== lastSeq || walk.lastHash !== lastHash) throw damaged(`the chain ends at seq ${walk.lastSeq}, not at the last record (seq ${lastSeq})`, where);
  return { first: cp.seq + 1, last: lastSeq, count: lastSeq - cp.seq };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/**
 * A writer that continued a log cut back behind its witness would overwrite the evidence (a
 * file witness holds the latest checkpoint only): the log must still hold the record the
 * witness saw. A witness that holds nothing yet is first use; one that cannot be read refuses the start.
 */
async function checkAgainstWitness(dir: string, witness: string, tail: TailState, keys: AuditKeys): Promise<void> {
  if (!isWitnessUrl(witness) && !(await exists(dirname(witness)))) {
    // Most likely a mount that is not there: a witness on the local disk instead would be none.
    throw new AuditError(`the witness's directory ${dirname(witness)} does not exist`, witness);
  }
  const read = await readWitness(witness);
  if ("error" in read) {
    if (read.absent === true) return; // first use: nothing delivered yet
    // Continuing unchecked would overwrite what the witness holds with this log's checkpoints,
    // hiding a cut-back: a witness that cannot be read now stops the start (not the appends later).
    throw new AuditError(`${read.error}; the log cannot be checked against its witness at open: start when the witness is reachable, or without it`, witness);
  }
  const w = read.checkpoint;
  if (w.key_id !== keys.keyId || !checkpointSignatureValid(w, keys.publicKey)) {
    throw damaged(`the witness holds a checkpoint that is not signed by this log's key (${w.key_id})`, witness);
  }
  if (w.seq > tail.lastSeq) throw damaged(`the log ends at seq ${tail.lastSeq} but the witness holds a checkpoint at seq ${w.seq}: records were deleted`, witness);
  if (w.seq === 0) return;
  const found = await findRecord(dir, w.seq);
  const hash = found === null ? null : (JSON.parse(found.text) as { hash?: unknown }).hash;
  if (hash !== w.hash) throw damaged(`record ${w.seq} ${hash === null ? "is missing" : `has hash ${String(hash)}`} but the witness says ${w.hash}`, found?.file ?? witness, found?.line);
}
