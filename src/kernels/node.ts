// Node-only helpers for tests, benchmarks and the converter: read build/kernels.wasm from disk.
// Never imported by the Worker (it bundles the .wasm as a module import instead).

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Kernels } from "./types";
import { RESERVED_BYTES } from "./types";
import { instantiateKernels } from "./wasm";

const WASM_PATH = fileURLToPath(new URL("../../build/kernels.wasm", import.meta.url));
const BUILD_COMMAND = "npx asc assembly/index.ts --config assembly/asconfig.json --target release";
const PAGE_BYTES = 65536;

let cached: WebAssembly.Module | undefined;

/** The compiled kernel module, compiled once per process. */
export function loadKernelModule(): WebAssembly.Module {
  if (cached) return cached;
  let bytes: Buffer;
  try {
    bytes = readFileSync(WASM_PATH);
  } catch (err) {
    throw new Error(
      `Cannot read the kernel module ${WASM_PATH} (${(err as Error).message}). ` +
        `---> HINT: build it first, from the repository root: ${BUILD_COMMAND}`,
    );
  }
  // @cloudflare/workers-types declares Module abstract (workerd forbids compiling from bytes);
  // Node allows it, and this file never runs in the Worker.
  const Compile = WebAssembly.Module as unknown as new (bytes: Uint8Array) => WebAssembly.Module;
  cached = new Compile(bytes);
  return cached;
}

/**
 * A fresh memory of `bytes` (rounded up to 64 KiB pages; the first RESERVED_BYTES belong to the
 * module) with the kernels instantiated over it. maximum = initial, so nothing can grow it.
 */
export function createKernels(bytes: number): { kernels: Kernels; memory: WebAssembly.Memory } {
  const pages = Math.ceil(Math.max(bytes, RESERVED_BYTES) / PAGE_BYTES);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  return { kernels: instantiateKernels(loadKernelModule(), memory), memory };
}
