// The kernels' public face: the interface, the WASM instantiation and the scalar twins.
// (node.ts, which reads the .wasm from disk, is deliberately not re-exported.)

export * from "./types";
export { instantiateKernels, pickKernelModule } from "./wasm";
export { scalarKernels } from "./scalar";
