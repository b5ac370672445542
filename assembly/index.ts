// The kernel module: SIMD kernels over one imported memory (contract: src/kernels/types.ts).
// f32 kernels, plus the int8/4-bit block-quantized ones: quantize and matmulQuant (q8, q4); embed
// and attention take the dtype of their table or KV cache; and the sampler's passes over a row of
// logits (argmax, expSum, expFind, expHist, expBucket).
// Built twice by `npm run build` (asconfig.json): target release -> build/kernels.wasm (SIMD128) and
// target relaxed -> build/kernels-relaxed.wasm (relaxed SIMD: fused madd; see PERF.md).

export { matmul } from "./matmul";
export { layernorm } from "./layernorm";
export { gelu } from "./gelu";
export { add } from "./add";
export { softmax } from "./softmax";
export { embed } from "./embed";
export { attention } from "./attention";
export { quantize } from "./quant";
export { matmulQuant } from "./matmul-quant";
export { argmax, expSum, expFind, expHist, expBucket } from "./sample";
