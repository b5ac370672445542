// Manifests of real GPT-2 shapes laid out exactly as the converter lays them out
// (weights/shard.ts layoutImage) but without any weights or shards: for memory and stage plans.

import { FORMAT, type DType, type Manifest } from "../../../src/model/manifest";
import { SHAPES, type ShapeName } from "../../../weights/random";
import { layoutImage } from "../../../weights/shard";

/** The manifest `convert --dtype <dtype>` writes for a GPT-2 shape (shards omitted). */
export function shapeManifest(shape: ShapeName, dtype: DType, embeddingDtype = dtype): Manifest {
  const { n_layer, n_head, n_embd } = SHAPES[shape];
  const config = {
    n_vocab: 50257,
    n_ctx: 1024,
    n_embd,
    n_layer,
    n_head,
    eps: 1e-5,
    eot_token: 50256,
  };
  const { tensors, imageBytes } = layoutImage(config, { dtype, embeddingDtype });
  const tokenizer = { file: "tokenizer.bin", bytes: 0, sha256: "" };
  return {
    format: FORMAT,
    name: shape,
    config,
    tokenizer,
    image_bytes: imageBytes,
    tensors,
    shards: [],
  };
}
