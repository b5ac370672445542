// The names that tie a staged model's Worker scripts together: the configs written at upload
// (weights/stage-configs.ts) and the code reading their bindings (the gateway, the stages)
// must agree on them, so they are made here and nowhere else.

/** The Durable Object class every stage script exports. */
export const STAGE_CLASS = "Stage";

/** A model id as Workers spell script names: lowercase letters, digits and dashes. */
const slug = (model: string) => model.toLowerCase().replace(/[^a-z0-9]+/g, "-");

/** The Worker script of stage i of a model. */
export const stageScript = (model: string, i: number) => `gpt-edge-${slug(model)}-s${i}`;

/** In a stage script, the binding to stage k's objects (its own index too: that defines them). */
export const stageBinding = (k: number) => `STAGE_${k}`;

/** In the gateway, the binding to a staged model's first stage. */
export const gatewayBinding = (model: string) =>
  `STAGE0_${slug(model).toUpperCase().replace(/-/g, "_")}`;

/**
 * The object of stage k serving replica `replica` of the model (one object per stage and
 * replica; the first stage reaches the others under the same name).
 */
export const replicaObject = (replica: string) => `replica:${replica}`;
