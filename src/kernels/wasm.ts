// The one file that touches WebAssembly: instantiate the SIMD kernel module (build/kernels.wasm,
// a bundled module import in the Worker, read from disk in Node) over the memory TS owns.

import type { Kernels } from "./types";

const KERNEL_NAMES = [
  "matmul",
  "layernorm",
  "gelu",
  "add",
  "softmax",
  "embed",
  "attention",
  "quantize",
  "matmulQuant",
  "argmax",
  "expSum",
  "expFind",
  "expHist",
  "expBucket",
] as const;
const BUILD_HINT = "npm run build";

/**
 * Synchronous, so it also runs at Worker module scope. The module imports env.memory (and,
 * only if built with assertions, env.abort); the kernels are the instance's exports as they are,
 * no wrappers, so a call costs one JS-to-WASM transition.
 */
export function instantiateKernels(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
): Kernels {
  const abort = (message: number, file: number, line: number, column: number): never => {
    const where = `${readString(memory, file)}:${line}:${column}`;
    throw new Error(
      `WASM kernel aborted: ${readString(memory, message) || "(no message)"} at ${where}`,
    );
  };
  const instance = new WebAssembly.Instance(module, { env: { memory, abort } });
  const exports = instance.exports as Record<string, unknown>;
  for (const name of KERNEL_NAMES) {
    if (typeof exports[name] !== "function") {
      throw new Error(
        `The kernel module has no export "${name}": it is stale or not built from assembly/. ` +
          `---> HINT: rebuild it: ${BUILD_HINT}`,
      );
    }
  }
  const k = exports as unknown as Omit<Kernels, "memory">;
  return {
    memory,
    matmul: k.matmul,
    layernorm: k.layernorm,
    gelu: k.gelu,
    add: k.add,
    softmax: k.softmax,
    embed: k.embed,
    attention: k.attention,
    quantize: k.quantize,
    matmulQuant: k.matmulQuant,
    argmax: k.argmax,
    expSum: k.expSum,
    expFind: k.expFind,
    expHist: k.expHist,
    expBucket: k.expBucket,
  };
}

/**
 * The kernel module this isolate uses: the relaxed-SIMD build when the runtime instantiates it,
 * else the baseline SIMD128 build. Both are bundled module imports (Workers cannot compile bytes),
 * so a runtime without relaxed SIMD would fail at compiling it; the instantiation check (over a
 * throwaway one-page memory) also catches a module that compiled but cannot be instantiated.
 * workerd's V8 has relaxed SIMD on by default, so the Worker takes the relaxed path; tests run
 * both. A given isolate uses one module for all rows, so the batch-invariance guarantee holds.
 */
export function pickKernelModule(
  relaxed: WebAssembly.Module | null,
  baseline: WebAssembly.Module,
): WebAssembly.Module {
  if (!relaxed) return baseline;
  try {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
    new WebAssembly.Instance(relaxed, { env: { memory, abort: () => {} } });
    return relaxed;
  } catch {
    return baseline;
  }
}

/** An AssemblyScript string (UTF-16LE, byte length in the u32 before it) for abort messages. */
function readString(memory: WebAssembly.Memory, ptr: number): string {
  const buffer = memory.buffer;
  if (ptr < 4 || ptr > buffer.byteLength) return "";
  const bytes = new DataView(buffer).getUint32(ptr - 4, true);
  const units = Math.min(bytes, buffer.byteLength - ptr, 4096) >>> 1; // messages are short
  return String.fromCharCode(...new Uint16Array(buffer.slice(ptr, ptr + units * 2)));
}
