// The kernel modules bundled into a Worker script (the gateway's and every stage's): compiled
// at deploy, picked once per isolate. Workers only; Node reads the .wasm files (node.ts).

import baselineKernels from "../../build/kernels.wasm";
import relaxedKernels from "../../build/kernels-relaxed.wasm";
import { pickKernelModule } from "./wasm.js";

// The relaxed-SIMD kernels where the runtime runs them (workerd does), else baseline SIMD128.
export const kernels = pickKernelModule(relaxedKernels, baselineKernels);

/** Which build `kernels` is, for /v1/status. */
export const kernelBuild = kernels === relaxedKernels ? "relaxed-simd" : "simd128";
