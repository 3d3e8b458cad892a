// One hook invocation: read the tool call, decide it (locally or at the control plane), answer.
// Every failure is an answer too: deny (fail closed), never an exception, never silence.

import type { CommitGate } from "./audited.js";
import type { Readable } from "node:stream";
import { PolicyError } from "../errors.js";
import type { HookOptions } from "./options.js";
import { actionOf, answer, failureAnswer, HookInputError, MAX_INPUT_BYTES, parseHookInput, permissionOf, reasonOf } from "./protocol.js";
import type { HookAnswer, HookDecision, HookInput } from "./protocol.js";

export interface HookResult {
  /** What to print on stdout; null prints nothing (an allow under --defer-allow). */
  answer: HookAnswer | null;
  /** What went wrong, for stderr (the answer is then deny). */
  error?: string;
  /** The decision, when there is one. */
  decision?: HookDecision;
}

/** Reads stdin whole, up to MAX_INPUT_BYTES (+1, to tell a larger input). */
export async function readInput(stdin: Readable, signal: AbortSignal): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  return new Promise<Uint8Array>((resolve, reject) => {
    const done = (err?: Error) => {
      stdin.off("data", onData).off("end", onEnd).off("error", onError);
      signal.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (c: Buffer | string) => {
      const b = typeof c === "string" ? Buffer.from(c, "utf8") : c;
      size += b.length;
      if (size > MAX_INPUT_BYTES) {
        stdin.pause();
        done(new HookInputError(`hook input over ${MAX_INPUT_BYTES} bytes`));
        return;
      }
      chunks.push(b);
    };
    const onEnd = () => done();
    const onError = (err: Error) => done(new HookInputError(`cannot read stdin: ${err.message}`));
    const onAbort = () => done(new HookInputError("stdin was not closed"));
    stdin.on("data", onData).on("end", onEnd).on("error", onError);
    signal.addEventListener("abort", onAbort);
  });
}

function messageOf(err: unknown): string {
  if (err instanceof PolicyError) return `the policy does not load: ${err.format().split("\n").join("; ")}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

async function decide(options: HookOptions, input: HookInput, env: NodeJS.ProcessEnv, deadline: number, signal: AbortSignal, commit: CommitGate): Promise<HookDecision> {
  const action = actionOf(input, { agent: options.agent, projectDir: env.CLAUDE_PROJECT_DIR || undefined });
  if (options.controlPlane !== undefined) {
    const { controlPlaneToken, decideRemotely } = await import("./remote.js");
    const token = await controlPlaneToken(options.token, options.tokenFile, env);
    return decideRemotely(options.controlPlane, token, action, signal);
  }
  // Loaded only in this mode: the control plane's client needs neither the engine nor the log.
  const [{ loadHookPolicy }, { decideLocally }] = await Promise.all([import("./policy-cache.js"), import("./local.js")]);
  const policy = loadHookPolicy(options.policy!, { cache: options.cache, env });
  return decideLocally(policy, action, options.audit, deadline, commit);
}

/**
 * Answers one tool call read from `stdin`. Never throws: a failure is a deny with what went
 * wrong (also returned as `error`), as is no decision within `options.timeoutMs`.
 */
/** Time kept before the deadline for appending a decision's record (and signing it). */
const COMMIT_MARGIN_MS = 2000;

export async function runHook(options: HookOptions, stdin: Readable, env: NodeJS.ProcessEnv = process.env): Promise<HookResult> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // The timeout always answers deny: past it Claude Code would let the tool run. A decision is
  // appended only while at least COMMIT_MARGIN is left before it, so that its record (and the
  // checkpoint) are durable before the answer in all but a stalled file system's case — then
  // the record may say allow for a call answered deny, the safe direction.
  let answered = false;
  const margin = Math.min(COMMIT_MARGIN_MS, options.timeoutMs / 4);
  const commit: CommitGate = { begin: () => !answered && Date.now() <= deadline - margin };
  const timedOut = new Promise<HookResult>((resolve) => {
    timer = setTimeout(() => {
      answered = true;
      const error = `no decision within ${options.timeoutMs / 1000} s`;
      abort.abort(new Error(error));
      resolve({ answer: failureAnswer(error), error });
    }, options.timeoutMs);
  });
  const work = (async (): Promise<HookResult> => {
    try {
      const input = parseHookInput(await readInput(stdin, abort.signal));
      const decision = await decide(options, input, env, deadline, abort.signal, commit);
      const permission = permissionOf(decision);
      if (permission === "allow" && options.deferAllow) return { answer: null, decision };
      return { answer: answer(permission, reasonOf(decision)), decision };
    } catch (err) {
      const error = messageOf(err);
      return { answer: failureAnswer(error), error };
    }
  })();
  try {
    return await Promise.race([work, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
