// The kernel module: SIMD f32 kernels over one imported memory (contract: src/kernels/types.ts).
// Built by: npx asc assembly/index.ts --config assembly/asconfig.json --target release

export { matmul } from "./matmul";
export { layernorm } from "./layernorm";
export { gelu } from "./gelu";
export { add } from "./add";
export { softmax } from "./softmax";
export { embed } from "./embed";
export { attention } from "./attention";
