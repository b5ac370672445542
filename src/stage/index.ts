// The Worker entry of one pipeline stage: the same code is deployed as one script per (model,
// stage index), each with its own generated config (weights/stage-configs.ts). Everything it
// serves goes through the Stage Durable Object's RPC methods; plain HTTP only says what it is.

import type { StageEnv } from "./stage.js";

export { Stage } from "./stage.js";

export default {
  fetch(_req: Request, env: StageEnv): Response {
    const what = `gpt-edge stage ${env.STAGE_INDEX} of ${env.STAGE_COUNT} of model ${env.MODEL}`;
    return new Response(`${what}: reached through its Durable Object binding, not HTTP.\n`, {
      status: 404,
    });
  },
} satisfies ExportedHandler<StageEnv>;
