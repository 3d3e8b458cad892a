// Loads the core once per process and creates one instance per policy (docs/abi.md, "Module").
//
// Instantiation and the cold path go through @assemblyscript/loader; the hot path does not:
// `evaluate` is the raw WebAssembly export and records and results are read and written
// through typed-array views of memory (src/encode.ts, src/policy.ts). docs/architecture.md,
// "The host side of the ABI", says why and what it costs.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { instantiateSync } from "@assemblyscript/loader";
import type { ASUtil } from "@assemblyscript/loader";
import { ABI_VERSION } from "./abi.generated.js";

/** The version of docs/abi.md this host speaks. */
export const SUPPORTED_ABI = ABI_VERSION;

/** The core's exports, raw (no loader wrapper: what the hot path calls). */
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
  counter_count(): number;
  counter_ptr(): number;
  explain_prepare(): number;
  explain_table_ptr(): number;
  explain_ptr(): number;
  explain(): number;
  image_size(): number;
  image_ptr(): number;
  image_buffer(len: number): number;
  load_image(len: number): number;
}

/** One instance of the core: its raw exports, and the loader's helpers for the cold path. */
export interface Core extends CoreExports {
  /** `__getArrayBuffer` and the other readers of @assemblyscript/loader (docs/abi.md, "Module"). */
  readonly util: ASUtil;
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
export function instantiateCore(): Core {
  // The loader's exports wrap every function (to set the arguments length): the raw ones stay
  // on `instance.exports`, and those are the ones a Core calls.
  const { instance, exports: util } = instantiateSync<Record<string, unknown>>(coreModule(), {});
  const core: Core = { ...(instance.exports as unknown as CoreExports), util };
  const version = core.abi_version();
  if (version !== SUPPORTED_ABI) {
    throw new Error(`the Tollgate core speaks ABI ${version}; this host speaks ${SUPPORTED_ABI}`);
  }
  return core;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/**
 * The compile report (docs/abi.md, "Compiling a policy"): `report_ptr()` is the core's
 * ArrayBuffer of UTF-8 JSON, which the loader copies out whole (its length is the object's
 * header, equal to `report_len()`).
 */
export function readReport(core: Core): string {
  return utf8.decode(core.util.__getArrayBuffer(core.report_ptr()));
}
