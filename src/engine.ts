// Loads the core once per process and creates one instance per policy (docs/abi.md, "Module").

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const SUPPORTED_ABI = 1;

export interface CoreExports {
  memory: WebAssembly.Memory;
  abi_version(): number;
  manifest_buffer(len: number): number;
  compile(len: number): number;
  report_ptr(): number;
  report_len(): number;
  field_count(): number;
  input_ptr(): number;
  input_capacity(): number;
  result_ptr(): number;
  result_capacity(): number;
  evaluate(count: number): number;
}

let cachedModule: WebAssembly.Module | undefined;


function locateWasm(): string {
  // Compiled code runs from build/dist/src/, sources (vitest) from src/: both reach build/.
  const here = fileURLToPath(import.meta.url);
  const marker = `${"/build/dist/"}`;
  const root = here.includes(marker) ? here.slice(0, here.indexOf(marker)) : fileURLToPath(new URL("..", import.meta.url));
  return `${root.replace(/\/$/, "")}/build/tollgate.wasm`;
}

export function coreModule(): WebAssembly.Module {
  if (!cachedModule) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(locateWasm());
    } catch (err) {
      throw new Error(`the Tollgate core is not built (${locateWasm()}): run \`npm install\` or \`npm run build\``, { cause: err });
    }
    cachedModule = new WebAssembly.Module(new Uint8Array(bytes));
  }
  return cachedModule;
}

/** A fresh instance of the core; throws if its ABI is not the one this host speaks. */
export function instantiateCore(): CoreExports {
  const instance = new WebAssembly.Instance(coreModule(), {});
  const core = instance.exports as unknown as CoreExports;
  const version = core.abi_version();
  if (version !== SUPPORTED_ABI) {
    throw new Error(`the Tollgate core speaks ABI ${version}; this host speaks ${SUPPORTED_ABI}`);
  }
  return core;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

export function readReport(core: CoreExports): string {
  const ptr = core.report_ptr();
  const len = core.report_len();
  return utf8.decode(new Uint8Array(core.memory.buffer, ptr, len));
}
