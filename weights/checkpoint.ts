// A Hugging Face GPT-2 directory, checked: config.json -> ModelConfig, and every tensor the
// runtime needs located in the safetensors files with its HF shape verified. Anything we cannot
// serve is refused here, with the tensor or field named and a hint.
import fs from "node:fs";
import path from "node:path";
import { expectedTensors, type ModelConfig } from "../src/model/manifest.js";
import { openCheckpoint, readJsonFile, SOURCE_DTYPES, type SourceTensor } from "./safetensors.js";

export interface HfCheckpoint {
  dir: string;
  /** eot_token here is provisional (config's eos_token_id); the tokenizer decides. */
  config: ModelConfig;
  /** config.json's eos_token_id, if it has one. */
  eosTokenId?: number;
  /** Runtime tensor name -> source tensor, for every name in expectedTensors(). */
  tensors: Map<string, SourceTensor>;
  /** `lm_head.weight`, if the file has one (must equal wte: GPT-2 ties them). */
  lmHead?: SourceTensor;
  /** Source keys we skip: causal-mask buffers and anything the runtime does not use. */
  ignored: string[];
  warnings: string[];
}

/** Conv1D weights: HF stores them [in][out]; the runtime wants [out][in]. */
export const isLinearWeight = (name: string) => /\.(c_attn|c_proj|c_fc)\.weight$/.test(name);

/** GPT-2 heads whose LM path is the tied wte; anything else is another model. */
const ARCHITECTURES = ["GPT2LMHeadModel", "GPT2Model"];
/**
 * gelu_pytorch_tanh and gelu_fast (0.5x(1 + tanh(0.79788456x(1 + 0.044715x²)))) are the same
 * tanh approximation as gelu_new; plain "gelu" (erf) is not.
 */
const ACTIVATIONS = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"];

export function readConfig(dir: string): { config: ModelConfig; eosTokenId?: number } {
  const file = path.join(dir, "config.json");
  if (!fs.existsSync(file))
    throw new Error(`${file} not found: is ${dir} a Hugging Face model dir?`);
  return parseConfig(readJsonFile(file), file);
}

/** Validates an HF GPT-2 config.json object. `where` names it in errors. */
export function parseConfig(hf: any, where = "config.json") {
  const fail = (why: string, fix: string) =>
    new Error(`${where}: ${why}. gpt-edge serves GPT-2 only; ${fix}`);
  const archs: string[] = hf.architectures ?? [];
  if ((hf.model_type && hf.model_type !== "gpt2") || archs.some((a) => !ARCHITECTURES.includes(a)))
    throw fail(
      `model_type ${hf.model_type}, architectures ${JSON.stringify(archs)}`,
      `expected model_type "gpt2" and ${ARCHITECTURES.join(" or ")}`,
    );
  const act = hf.activation_function ?? "gelu_new"; // HF GPT2Config's default
  if (!ACTIVATIONS.includes(act))
    throw fail(`activation_function "${act}"`, `the kernels implement gelu_new (tanh GELU)`);
  if (hf.add_cross_attention) throw fail("add_cross_attention is set", "no encoder-decoder models");
  if (hf.scale_attn_by_inverse_layer_idx || hf.scale_attn_weights === false)
    throw fail("attention scaling differs from 1/sqrt(head size)", "retrain or re-export");
  if (hf.tie_word_embeddings === false)
    throw fail("tie_word_embeddings is false", "the runtime unembeds with wte (tied)");
  const int = (key: string, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) <= 0)
      throw fail(`${key} = ${JSON.stringify(v)}`, `${key} must be a positive integer`);
    return v as number;
  };
  const C = int("n_embd", hf.n_embd);
  const NH = int("n_head", hf.n_head);
  if (C % NH) throw fail(`n_embd ${C} is not a multiple of n_head ${NH}`, "fix config.json");
  if (hf.n_inner != null && hf.n_inner !== 4 * C)
    throw fail(`n_inner ${hf.n_inner} != 4*n_embd`, "the layout assumes an MLP of width 4C");
  const config: ModelConfig = {
    n_vocab: int("vocab_size", hf.vocab_size),
    n_ctx: int("n_positions", hf.n_positions ?? hf.n_ctx), // old configs only have n_ctx
    n_embd: C,
    n_layer: int("n_layer", hf.n_layer),
    n_head: NH,
    eps: epsilonOf(hf.layer_norm_epsilon, fail),
    eot_token: -1,
  };
  const eos = Number.isInteger(hf.eos_token_id) ? (hf.eos_token_id as number) : undefined;
  return { config, eosTokenId: eos };
}

/** layer_norm_epsilon: a finite number ≥ 0 (1e-5 when absent). A string would reach JS as text. */
function epsilonOf(v: unknown, fail: (what: string, fix: string) => Error): number {
  if (v === undefined || v === null) return 1e-5;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
    throw fail(`layer_norm_epsilon ${JSON.stringify(v)} is not a number >= 0`, "fix config.json");
  return v;
}

/** HF shape of a runtime tensor: linear weights are stored transposed ([in][out]). */
export const sourceShape = (name: string, shape: number[]) =>
  isLinearWeight(name) ? [...shape].reverse() : shape;

/** Maps source keys to runtime names: strips `transformer.`, drops `.weight` from wte/wpe. */
function runtimeName(key: string): string {
  const k = key.startsWith("transformer.") ? key.slice("transformer.".length) : key;
  return k === "wte.weight" || k === "wpe.weight" ? k.slice(0, 3) : k;
}

export function openHfCheckpoint(dir: string): HfCheckpoint {
  const { config, eosTokenId } = readConfig(dir);
  const source = openCheckpoint(dir);
  const tensors = new Map<string, SourceTensor>();
  const ignored: string[] = [];
  const warnings: string[] = [];
  let lmHead: SourceTensor | undefined;
  const want = new Map(expectedTensors(config).map((t) => [t.name, t.shape]));
  for (const t of source.values()) {
    const name = runtimeName(t.key);
    if (name === "lm_head.weight") lmHead = t;
    else if (/\.attn\.(bias|masked_bias)$/.test(name))
      ignored.push(t.key); // causal-mask buffers
    else if (!want.has(name))
      (ignored.push(t.key), warnings.push(`ignoring unused tensor ${t.key}`));
    else if (tensors.has(name))
      throw new Error(`${dir}: tensor ${name} appears twice (${tensors.get(name)!.key}, ${t.key})`);
    else tensors.set(name, t);
  }
  for (const [name, shape] of want) {
    const t = tensors.get(name);
    const hfShape = JSON.stringify(sourceShape(name, shape));
    if (!t)
      throw new Error(
        `${dir}: tensor ${name} is missing (expected ${hfShape} for the config's ` +
          `n_layer=${config.n_layer} n_embd=${config.n_embd}). Is the checkpoint complete?`,
      );
    if (JSON.stringify(t.shape) !== hfShape)
      throw new Error(
        `${dir}: tensor ${t.key} has shape ${JSON.stringify(t.shape)}, expected ${hfShape} ` +
          `from config.json (vocab_size ${config.n_vocab}, n_positions ${config.n_ctx}, ` +
          `n_embd ${config.n_embd}). Does config.json belong to these weights?`,
      );
    if (!(t.dtype in SOURCE_DTYPES))
      throw new Error(`${dir}: tensor ${t.key} is ${t.dtype}; the converter reads F32, F16, BF16`);
  }
  if (lmHead && JSON.stringify(lmHead.shape) !== JSON.stringify(want.get("wte")))
    throw new Error(
      `${dir}: lm_head.weight has shape ${JSON.stringify(lmHead.shape)}, wte is ` +
        `${JSON.stringify(want.get("wte"))}; the runtime needs the unembedding tied to wte`,
    );
  return { dir, config, eosTokenId, tensors, lmHead, ignored, warnings };
}

/** The dtypes found among the tensors we convert, e.g. "F32" or "F16+F32". */
export function sourceDtypes(ck: HfCheckpoint): string {
  return [...new Set([...ck.tensors.values()].map((t) => t.dtype))].sort().join("+");
}
