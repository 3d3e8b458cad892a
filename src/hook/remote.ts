// Deciding with the control plane (`tollgate serve`, docs/server.md): POST /v1/decide with the
// action and a bearer token. The server decides, audits, counts and opens the approval of an
// escalation; the hook only maps its answer. Plain node:http(s): nothing else to load per call.

import { readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import type { IncomingMessage } from "node:http";
import type { Decision } from "../decision.js";
import type { HookDecision } from "./protocol.js";

/** The largest answer read from the control plane. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export class ControlPlaneError extends Error {
  override name = "ControlPlaneError";
}

/** The bearer token: `--token`, else the first line of `--token-file`, else $TOLLGATE_TOKEN. */
export async function controlPlaneToken(token: string | undefined, tokenFile: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  let t = token;
  if (t === undefined && tokenFile !== undefined) t = (await readFile(tokenFile, "utf8")).split(/\r?\n/, 1)[0];
  t ??= env.TOLLGATE_TOKEN;
  t = t?.trim();
  if (!t) throw new ControlPlaneError("no token for the control plane: --token-file FILE or $TOLLGATE_TOKEN");
  return t;
}

function isDecision(v: unknown): v is Decision {
  const d = v as Partial<Decision> | null;
  return d !== null && typeof d === "object" && (d.decision === "allow" || d.decision === "deny" || d.decision === "escalate") && typeof d.policy === "string";
}

/** Decides `action` at the control plane `base` (its URL); throws on anything but a decision. */
export async function decideRemotely(base: string, token: string, action: unknown, signal: AbortSignal): Promise<HookDecision> {
  const url = new URL("v1/decide", base.endsWith("/") ? base : `${base}/`);
  const body = Buffer.from(JSON.stringify({ action }), "utf8");
  // TLS is loaded only for an https URL (it costs a new process several ms).
  const request = url.protocol === "https:" ? (await import("node:https")).request : httpRequest;
  return new Promise<HookDecision>((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      signal,
      headers: { "content-type": "application/json", "content-length": body.length, authorization: `Bearer ${token}`, connection: "close" },
    }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) req.destroy(new ControlPlaneError(`the control plane's answer is over ${MAX_RESPONSE_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        if (res.statusCode !== 200) {
          const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
          reject(new ControlPlaneError(`the control plane answered ${res.statusCode}${e?.message ? `: ${e.message}` : ""}`));
        } else if (!isDecision(parsed)) {
          reject(new ControlPlaneError("the control plane's answer is not a decision"));
        } else {
          resolve(parsed as HookDecision);
        }
      });
    });
    req.on("error", (err) => reject(err instanceof ControlPlaneError ? err : new ControlPlaneError(`cannot reach the control plane at ${url.origin}: ${err.message}`)));
    req.end(body);
  });
}
