// The demo page's stylesheet: light and dark themes with WCAG AA text contrast, a grid that
// folds to one column on a phone (375 px), and visible focus rings for keyboard use.

export const pageCss = String.raw`
:root {
  color-scheme: light dark;
  --fg: #1b1f24; --bg: #f6f7f9; --card: #ffffff; --muted: #57606a; --line: #d0d7de;
  --accent: #0a5dc2; --accent-fg: #ffffff; --bar: #0a5dc2; --cut: #9aa4ae; --warn: #8a4b00;
  --hl: #ffd33d;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e6edf3; --bg: #0d1117; --card: #161b22; --muted: #9ea7b3; --line: #30363d;
    --accent: #58a6ff; --accent-fg: #0d1117; --bar: #58a6ff; --cut: #6e7681; --warn: #f0b35a;
    --hl: #bb8009;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 1rem; }
header { padding-top: 1rem; }
h1 { font-size: 1.45rem; margin: 0; }
h1 span { font-weight: 400; color: var(--muted); }
h2 { font-size: 1.1rem; margin: 0 0 .25rem; }
h3 { font-size: .95rem; margin: .25rem 0 .5rem; }
.lead { color: var(--muted); margin: .25rem 0 1rem; max-width: 60rem; }
main { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 1rem; min-width: 0; }
.wide { grid-column: 1 / -1; }
@media (max-width: 860px) { main { grid-template-columns: minmax(0, 1fr); } }
@media (max-width: 480px) { header, main, footer { padding: 0 .5rem; } .card { padding: .75rem; } }
.hint { color: var(--muted); margin: 0 0 .75rem; font-size: .92rem; }
.muted { color: var(--muted); }
.small { font-size: .85rem; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: var(--card); padding: .25rem .5rem; z-index: 10; }
footer { padding: 1rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }

textarea, input, select, button { font: inherit; color: var(--fg); }
textarea { width: 100%; font: 15px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; padding: .5rem;
  border-radius: 6px; border: 1px solid var(--line); background: var(--bg); resize: vertical; }
input[type=number], input[type=password], select { padding: .3rem .4rem; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); max-width: 100%; }
input[type=number] { width: 6.5rem; }
button { padding: .45rem 1rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: var(--accent-fg); cursor: pointer; }
button.secondary { background: transparent; color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.row { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin: .5rem 0; }
.row label { display: inline-flex; gap: .4rem; align-items: center; }
#status { color: var(--muted); font-size: .9rem; }
#status.error, .error { color: #b3261e; }
@media (prefers-color-scheme: dark) { #status.error, .error { color: #ff8a80; } }
.settings summary { cursor: pointer; color: var(--muted); }

/* tokens */
.chips { display: flex; flex-wrap: wrap; gap: 4px; min-height: 2.6rem; }
.chip { display: inline-flex; flex-direction: column; align-items: center; padding: 2px 6px; border-radius: 6px;
  border: 1px solid rgba(0,0,0,.15); color: #1b1f24; background: #dbeafe; cursor: pointer; line-height: 1.2; }
.chip .t { font: 15px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre; }
.chip .id { font-size: 11px; color: #3d4650; }
.chip[aria-pressed=true] { outline: 3px solid var(--fg); outline-offset: 1px; }
.chip .ws { color: #57606a; }
.tip { position: absolute; z-index: 20; max-width: min(26rem, calc(100vw - 1rem)); background: var(--card); color: var(--fg);
  border: 1px solid var(--line); border-radius: 8px; padding: .6rem .75rem; box-shadow: 0 6px 24px rgba(0,0,0,.18); font-size: .88rem; }
.tip code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.tip .merges { margin: .25rem 0; padding-left: 1.1rem; }
.tip table { border-collapse: collapse; }
.tip td { padding: 0 .5rem 0 0; }

/* next-token bars */
.controls { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: .25rem .75rem; align-items: center; margin-bottom: .75rem; }
.controls input[type=range] { width: 100%; }
output { font-variant-numeric: tabular-nums; font-weight: 600; display: inline-block; min-width: 2.6rem; }
.bars { display: grid; grid-template-columns: auto minmax(4.5rem, max-content) minmax(0, 1fr) 3.6rem; gap: 2px .5rem; align-items: center; font-size: .9rem; }
.bar-row { display: contents; }
.bar-row .rank { color: var(--muted); text-align: right; font-variant-numeric: tabular-nums; }
.bar-row .tok { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre; overflow: hidden; text-overflow: ellipsis; max-width: 9rem; }
.bar-row .track { height: 1rem; background: color-mix(in srgb, var(--line) 45%, transparent); border-radius: 3px; overflow: hidden; }
.bar-row .fill { height: 100%; background: var(--bar); border-radius: 3px; transition: width .12s; }
.bar-row .p { text-align: right; font-variant-numeric: tabular-nums; }
.bar-row.cut .fill { background: repeating-linear-gradient(45deg, var(--cut) 0 4px, transparent 4px 7px); }
.bar-row.cut .tok, .bar-row.cut .p { color: var(--muted); text-decoration: line-through; }
.bar-row.sampled .tok { background: var(--hl); color: #1b1f24; border-radius: 3px; }
.cutline { grid-column: 1 / -1; border-top: 2px dashed var(--warn); color: var(--warn); font-size: .8rem; padding-top: 1px; }
.steps { padding-left: 1.4rem; margin: .5rem 0 0; font-size: .9rem; }
.steps li { margin-bottom: .35rem; }
.mini { display: flex; gap: 4px; flex-wrap: wrap; margin-top: 2px; }
.mini span { font-family: ui-monospace, monospace; font-size: .8rem; padding: 0 4px; border-radius: 3px; border: 1px solid var(--line); white-space: pre; }
.mini span.sampled { background: var(--hl); color: #1b1f24; }

/* generate */
.out { white-space: pre-wrap; word-break: break-word; font: 15px/1.6 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  min-height: 6rem; padding: .75rem; border: 1px solid var(--line); border-radius: 8px; background: var(--bg); }
.out .prompt { color: var(--muted); }
.out .g { border-radius: 3px; }
.legend { display: flex; gap: .5rem; align-items: center; font-size: .8rem; color: var(--muted); margin-top: .35rem; }
.legend .grad { display: inline-block; width: 8rem; height: .7rem; border-radius: 3px;
  background: linear-gradient(90deg, hsla(0,85%,55%,.45), hsla(60,85%,50%,.45), hsla(120,70%,45%,.45)); }

/* attention */
.heads { display: grid; gap: 6px; margin-bottom: .75rem; max-width: 600px; align-items: center; }
.layer-label { font-weight: 600; font-size: .85rem; padding-right: .25rem; }
.head { display: flex; flex-direction: column; align-items: stretch; gap: 1px; padding: 4px; border-radius: 6px; min-width: 0;
  border: 1px solid var(--line); background: var(--bg); color: var(--fg); font-size: .75rem; line-height: 1.25; text-align: left; }
.head[aria-pressed=true] { border-color: var(--accent); box-shadow: 0 0 0 2px var(--accent); }
.head canvas { width: 100%; aspect-ratio: 1; image-rendering: pixelated; background: var(--card); }
.head .kind { font-weight: 600; }
.head .nums { font-size: .7rem; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
@media (max-width: 480px) { .head .name { display: none; } .head { padding: 2px; } }
.heat-legend { display: flex; align-items: center; gap: .4rem; font-size: .8rem; color: var(--muted); margin-top: .25rem; }
.heat-legend i { display: inline-block; width: 8rem; height: .6rem; border-radius: 2px; background: linear-gradient(90deg, #f7fbff, #08306b); border: 1px solid var(--line); }
@media (prefers-color-scheme: dark) { .heat-legend i { background: linear-gradient(90deg, #161b22, #9edcff); } }
.att-views { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; }
@media (max-width: 860px) { .att-views { grid-template-columns: minmax(0, 1fr); } }
figure { margin: 0; min-width: 0; }
#heat { width: 100%; max-width: 560px; aspect-ratio: 1; display: block; background: var(--card); }
.arcs-scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; background: var(--bg); }
#arcs { display: block; height: 240px; }
#arcs text { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; fill: var(--fg); cursor: pointer; }
#arcs text.q { font-weight: 700; }

/* embeddings */
.emb { display: grid; grid-template-columns: minmax(0, 1fr) 15rem; gap: 1rem; }
@media (max-width: 860px) { .emb { grid-template-columns: minmax(0, 1fr); } }
@media (max-width: 480px) { #cloud { aspect-ratio: 1; } }
#cloud { width: 100%; aspect-ratio: 4 / 3; display: block; border: 1px solid var(--line); border-radius: 8px; background: var(--bg); touch-action: none; cursor: grab; }
.neigh-list { margin: 0; padding-left: 1.6rem; font-size: .9rem; }
.neigh-list li { display: flex; justify-content: space-between; gap: .5rem; }
.neigh-list .mono { white-space: pre; }

/* block */
.dims { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9rem; margin-bottom: .5rem; overflow-wrap: anywhere; }
.block-views { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1rem; }
@media (max-width: 860px) { .block-views { grid-template-columns: minmax(0, 1fr); } }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td .share { height: .45rem; background: var(--bar); border-radius: 2px; margin: 2px 0 0 auto; min-width: 2px; }
.times { grid-template-columns: max-content minmax(0, 1fr) 4.2rem; }
.times .bar-row .tok { max-width: none; }
@media (max-width: 480px) { #sizes .shape { display: none; } #sizes th, #sizes td { padding: .3rem .3rem; } }
`;
