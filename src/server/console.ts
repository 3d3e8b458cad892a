// The web console's files at /console/ (docs/approvals.md, "The console"): the bundle that
// `npm run build:console` (scripts/build-console.mjs) writes to build/console/, served with
// @fastify/static. The files are public; the data they show comes from the API, under its token
// rules. A strict Content-Security-Policy: the bundle's own script and style, nothing inline,
// connections to this origin only.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";
import { errorBody } from "./http.js";

/** build/console/, from build/dist/src/server/console.js. */
export const CONSOLE_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../../console");

export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  // Small files that change with each build: always revalidated (ETag).
  "cache-control": "no-cache",
};

export interface ConsoleOptions {
  /** Where the built files are (default CONSOLE_DIR). */
  dir?: string;
}

export async function consoleRoutes(app: FastifyInstance, { dir = CONSOLE_DIR }: ConsoleOptions = {}): Promise<void> {
  if (!existsSync(join(dir, "index.html"))) {
    // Started from a build without the console (`tsc` alone): say how to get it.
    const missing = async (_req: unknown, reply: import("fastify").FastifyReply) => {
      reply.code(503).type("application/json");
      return errorBody("unavailable", `the web console is not built (no ${join(dir, "index.html")}): run npm run build`);
    };
    app.get("/console/", missing);
    app.get("/console/*", missing);
    return;
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: "/console/",
    index: false,
    redirect: false,
    dotfiles: "deny",
    cacheControl: false,
    setHeaders: (reply) => {
      reply.headers(CONSOLE_HEADERS);
    },
  });
  // The page itself; the router ignores trailing slashes, so /console serves it too (its URLs are absolute).
  app.get("/console/", (_req, reply) => reply.sendFile("index.html"));
}
