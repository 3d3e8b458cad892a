// The repository root, whether a bench runs compiled (build/dist/bench/) or from source.

import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export function repoRoot(): string {
  const here = fileURLToPath(import.meta.url);
  const marker = "/build/dist/";
  return here.includes(marker) ? here.slice(0, here.indexOf(marker)) : resolve(dirname(here), "..");
}
