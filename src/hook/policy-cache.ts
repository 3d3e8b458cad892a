// The hook loads its policy at every tool call, in a new process. Parsing YAML is most of a
// policy load (and the `yaml` package most of what a load imports), so the manifest is cached as
// JSON on disk, keyed by the SHA-256 of the policy file's bytes: a changed file is a new key, an
// unchanged one loads with `Policy.fromJson` (no YAML parser; the core still validates and
// compiles it, so a cache entry can make no invalid policy valid). The cache lives in
// $TOLLGATE_CACHE_DIR (default $XDG_CACHE_HOME/tollgate or ~/.cache/tollgate, as the Python
// host's module cache; an empty value turns it off), and only in a directory this user owns
// that nobody else can write to. Any cache trouble falls back to the YAML.

import { policyText } from "../policy-text.js";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Messages } from "../abi.generated.js";
import { PolicyError } from "../errors.js";
import { Policy } from "../policy.js";
import { loadYaml, MAX_MANIFEST_BYTES } from "../yaml.js";

const FORMAT = "1";

/** The cache directory ($TOLLGATE_CACHE_DIR, "" = none), or null. */
export function cacheDir(env: NodeJS.ProcessEnv): string | null {
  const set = env.TOLLGATE_CACHE_DIR;
  if (set !== undefined) return set === "" ? null : set;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "tollgate");
}

/** Only a directory this user owns and nobody else can write to (a cached manifest is trusted). */
function usable(dir: string, create: boolean): boolean {
  try {
    if (create) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    const uid = process.getuid?.();
    return st.isDirectory() && (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

let loaderTag: string | undefined;

/** What the cached JSON depends on besides the file: this build of the YAML loader. */
function loader(): string {
  if (loaderTag === undefined) {
    let tag = "unknown";
    try {
      const st = statSync(fileURLToPath(new URL("../yaml.js", import.meta.url)));
      tag = `${st.size}.${st.mtimeMs}`;
    } catch {
      // not found: the tag still changes with the format
    }
    loaderTag = tag;
  }
  return loaderTag;
}

function readPolicyFile(path: string): Buffer {
  try {
    if (statSync(path).size > MAX_MANIFEST_BYTES) throw new PolicyError([{ file: path, line: 1, column: 1, message: Messages.manifestTooLarge }]);
    return readFileSync(path);
  } catch (err) {
    if (err instanceof PolicyError) throw err;
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? Messages.noSuchFile : (err as Error).message;
    throw new PolicyError([{ file: path, line: 1, column: 1, message: Messages.cannotReadPolicy(reason) }]);
  }
}

/** Whether `text` is exactly `JSON.stringify` of an object (a truncated or edited entry is not). */
function isManifestJson(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) && JSON.stringify(v) === text;
  } catch {
    return false;
  }
}

export interface LoadHookPolicyOptions {
  cache: boolean;
  env: NodeJS.ProcessEnv;
}

/** The policy in `path` (throws PolicyError as Policy.fromFile does), through the cache. */
export function loadHookPolicy(path: string, options: LoadHookPolicyOptions): Policy {
  const dir = options.cache ? cacheDir(options.env) : null;
  if (dir === null) return Policy.fromFile(path);
  const bytes = readPolicyFile(path);
  const key = createHash("sha256").update(`tollgate-hook-policy/${FORMAT}\n${loader()}\n`).update(bytes).digest("hex");
  const entry = join(dir, `hook-policy-${key.slice(0, 40)}.json`);
  let cached: string | undefined;
  try {
    cached = readFileSync(entry, "utf8");
  } catch {
    cached = undefined; // a miss
  }
  if (cached !== undefined && usable(dir, false) && isManifestJson(cached)) {
    try {
      return Policy.fromJson(cached, { filename: path });
    } catch {
      // an entry the core refuses (a damaged file, another build's): a miss, written again
    }
  }
  // A miss: parse the YAML once, compile its JSON (as a hit will), keep the JSON.
  const text = policyText(bytes, path); // not UTF-8: a PolicyError at the byte
  const loaded = loadYaml(text, path);
  if (!loaded.ok) throw new PolicyError(loaded.problems);
  const json = JSON.stringify(loaded.yaml.value);
  let policy: Policy;
  try {
    policy = Policy.fromJson(json, { filename: path });
  } catch {
    return Policy.fromYaml(text, { filename: path }); // throws with positions in the YAML file
  }
  if (usable(dir, true)) {
    try {
      const tmp = `${entry}.${process.pid}.tmp`;
      writeFileSync(tmp, json, { mode: 0o600 });
      renameSync(tmp, entry);
    } catch {
      // a cache that cannot be written costs time, not correctness
    }
  }
  return policy;
}
