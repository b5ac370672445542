// Node-only helpers for tests, benchmarks and the converter: read build/kernels.wasm (or the
// relaxed-SIMD build/kernels-relaxed.wasm) from disk. Never imported by the Worker (it bundles
// the .wasm files as module imports instead).

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import type { Kernels } from "./types";
import { RESERVED_BYTES } from "./types";
import { instantiateKernels } from "./wasm";

/** baseline: SIMD128 only; relaxed: the same kernels built with relaxed SIMD (fused madd). */
export type KernelVariant = "baseline" | "relaxed";

const FILES: Record<KernelVariant, string> = {
  baseline: "kernels.wasm",
  relaxed: "kernels-relaxed.wasm",
};
const BUILD_COMMAND = "npm run build";
const PAGE_BYTES = 65536;

const cached = new Map<string, WebAssembly.Module>();

/** This process's V8 major version (Node 20: 11; a newer Node runs the Worker's generation). */
export const V8_MAJOR = Number(process.versions.v8.split(".")[0]);

/**
 * Node 20 (V8 11.3) ships relaxed SIMD behind a flag that workerd and Node 22 have on by
 * default; V8 reads it when it compiles a module, so setting it first is enough.
 */
export function enableRelaxedSimd(): void {
  if (V8_MAJOR < 12) setFlagsFromString("--experimental-wasm-relaxed-simd"); // gone in V8 14
}

/**
 * Compile WASM the way workerd does: with an explicit bounds check on every memory access. workerd
 * does not install V8's WebAssembly trap handler (its source never calls
 * EnableWebAssemblyTrapHandler), so V8 cannot lean on guard pages and emits a compare and branch
 * per load and store; Node installs it. Measured in Node 20 on GPT-2 124M decode (Zen 5): q4
 * -15 to -19%, q8 -8%, f32 0%. Benchmarks call this first so kernel figures are the Worker's;
 * tests need not (the results are the same bits). V8 reads the flags when it compiles a
 * function, so they apply to modules compiled after the call.
 */
export function workerdCodegen(): void {
  setFlagsFromString("--wasm-enforce-bounds-checks");
  // And TurboFan from the first call, as a warm Worker runs its kernels: a benchmark's warm-up
  // can end before V8 tiers a big function up, and then times Liftoff code (it did: the kernels
  // bench's q8 decode read 68 tok/s against 116). At run time only in V8 11; a newer V8 aborts
  // on it there (pass --no-liftoff on its command line).
  if (V8_MAJOR < 12) setFlagsFromString("--no-liftoff");
}

/** A compiled module from build/, compiled once per process. */
export function loadWasm(file: string): WebAssembly.Module {
  const known = cached.get(file);
  if (known) return known;
  const path = fileURLToPath(new URL(`../../build/${file}`, import.meta.url));
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(
      `Cannot read the module ${path} (${(err as Error).message}). ` +
        `---> HINT: build it first, from the repository root: ${BUILD_COMMAND}`,
    );
  }
  // @cloudflare/workers-types declares Module abstract (workerd forbids compiling from bytes);
  // Node allows it, and this file never runs in the Worker.
  const Compile = WebAssembly.Module as unknown as new (bytes: Uint8Array) => WebAssembly.Module;
  const module = new Compile(bytes);
  cached.set(file, module);
  return module;
}

/** The compiled kernel module of a variant (default: baseline). */
export function loadKernelModule(variant: KernelVariant = "baseline"): WebAssembly.Module {
  if (variant === "relaxed") enableRelaxedSimd();
  return loadWasm(FILES[variant]);
}

/**
 * A fresh memory of `bytes` (rounded up to 64 KiB pages; the first RESERVED_BYTES belong to the
 * module) with the kernels instantiated over it. maximum = initial, so nothing can grow it.
 */
export function createKernels(
  bytes: number,
  variant: KernelVariant = "baseline",
): { kernels: Kernels; memory: WebAssembly.Memory } {
  const pages = Math.ceil(Math.max(bytes, RESERVED_BYTES) / PAGE_BYTES);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  return { kernels: instantiateKernels(loadKernelModule(variant), memory), memory };
}
