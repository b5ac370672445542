// The demo page's entry point (bundled by src/cli/build-page.ts): wire every view, then list the
// models and run the first inspection.

import { initBars } from "./bars.js";
import { initBlock } from "./block.js";
import { initCloud } from "./cloud.js";
import { initDiagram } from "./diagram.js";
import { $ } from "./dom.js";
import { initGen } from "./gen.js";
import { initHeads } from "./heads.js";
import { initInside } from "./inside.js";
import { initLens } from "./lens.js";
import { initMlp } from "./mlp.js";
import { loadModels, runInspect, scheduleInspect } from "./run.js";
import { initScale } from "./scale.js";
import { renderAll, S } from "./state.js";
import { initTemps } from "./temps.js";
import { initTokens } from "./tokens.js";

// Registration order is drawing order: the spine and the next-token bars first.
initDiagram();
initTokens();
initBars();
initLens();
initHeads();
initInside();
initMlp();
initCloud();
initScale();
initBlock();
initGen();
initTemps();

$("prompt").addEventListener("input", scheduleInspect);
$("model").addEventListener("change", () => {
  S.model = $<HTMLSelectElement>("model").value;
  S.sel = -1;
  void runInspect();
});
let resize = 0;
window.addEventListener("resize", () => {
  clearTimeout(resize);
  resize = window.setTimeout(() => void renderAll(), 100);
});
void loadModels();
