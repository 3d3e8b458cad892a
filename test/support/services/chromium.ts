// Headless Chromium for the console's browser tests (test/console/), driven by playwright-core:
// Debian's `chromium` package (playwright's own browser downloads are not used). Tests call
// `chromiumBrowser(what)` when the file is collected: when /usr/bin/chromium (or
// $TOLLGATE_CHROMIUM) is missing they skip, listed in the end-of-run banner
// (global-setup.ts) — or, with TOLLGATE_REQUIRE_SERVICES=1 (CI), the file fails with the reason.

import { spawnSync } from "node:child_process";
import { chromium } from "playwright-core";
import type { Browser } from "playwright-core";
import { unavailable } from "./redis.js";

export const CHROMIUM = process.env.TOLLGATE_CHROMIUM ?? "/usr/bin/chromium";

/**
 * Chromium's flags here: headless without a sandbox (tests run as root), and none of the
 * background networking (updates, sync, field trials) that hangs it on a machine without a
 * network. Playwright gives each launch a fresh temporary profile (--user-data-dir).
 */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let probed: { available: boolean; reason: string } | null = null;

/** Whether Chromium can run here. With TOLLGATE_REQUIRE_SERVICES=1, throws when it cannot; else records the skip of `what`. */
export function chromiumBrowser(what: string): { available: boolean; reason: string } {
  if (probed === null) {
    const r = spawnSync(CHROMIUM, ["--version"], { encoding: "utf8", timeout: 30_000 });
    probed =
      r.status === 0
        ? { available: true, reason: "" }
        : { available: false, reason: `${CHROMIUM} is not installed (${r.error?.message ?? `exit ${r.status}`}); install it with: apt-get install chromium` };
  }
  if (!probed.available) unavailable(what, probed.reason);
  return probed;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
}
