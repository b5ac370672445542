// Module shapes of the Worker's bundled non-JS imports (wrangler's default rules).
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
declare module "*.bin" {
  const data: ArrayBuffer;
  export default data;
}
