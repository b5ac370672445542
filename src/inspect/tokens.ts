// The prompt as tokens for the demo's chips: id, text, raw bytes, character span, and the BPE
// merges that built each token (replayed from Tokenizer.trace of the token's pre-token).

import type { TokenInfo } from "./types.js";
import { splitPretokens, type Tokenizer } from "../tokenizer/index.js";

/** Pre-tokens longer than this are not traced: a trace costs O(length²) time and memory. */
const MAX_TRACED_CHARS = 64;

/** Tokenise a prompt with everything the chips show. An empty prompt is <|endoftext|>. */
export function promptTokens(tok: Tokenizer, prompt: string): TokenInfo[] {
  const { ids, offsets } = tok.encodeWithOffsets(prompt);
  if (ids.length === 0) {
    const id = tok.eot ?? 0;
    const bytes = Array.from(tok.tokenBytes(id));
    return [{ id, text: tok.tokenString(id), bytes, offset: [0, 0], pretoken: -1, merges: null }];
  }
  const out: TokenInfo[] = [];
  splitPretokens(prompt).forEach((piece, pi) => {
    const pieceIds = tok.encode(piece);
    const merges = piece.length <= MAX_TRACED_CHARS ? mergesPerToken(tok, piece) : null;
    pieceIds.forEach((id, j) => {
      const i = out.length;
      out.push({
        id,
        text: tok.tokenString(id),
        bytes: Array.from(tok.tokenBytes(id)),
        offset: offsets[i],
        pretoken: pi,
        merges: merges && merges.length === pieceIds.length ? merges[j] : null,
      });
    });
  });
  // The pieces re-encoded one by one must give the same ids as the whole prompt.
  if (out.length !== ids.length || out.some((t, i) => t.id !== ids[i])) {
    throw new Error("promptTokens: per-piece tokenisation disagrees with encode()");
  }
  return out;
}

/**
 * Replay a pre-token's merge trace with byte spans: each step merges two neighbouring parts;
 * a merge belongs to the final token whose span contains it.
 */
function mergesPerToken(tok: Tokenizer, piece: string): [string, string][][] | null {
  const traced = tok.trace(piece).pretokens;
  if (traced.length !== 1) return null; // the piece did not split back into itself
  const { steps } = traced[0];
  let parts = steps[0].parts;
  let spans = parts.map((p, i) => [i, i + p.length] as [number, number]); // one char per byte
  const done: { span: [number, number]; pair: [string, string] }[] = [];
  for (let s = 1; s < steps.length; s++) {
    const next = steps[s].parts;
    let at = 0;
    while (at < next.length && next[at] === parts[at]) at++;
    done.push({ span: [spans[at][0], spans[at + 1][1]], pair: [parts[at], parts[at + 1]] });
    spans = [...spans.slice(0, at), [spans[at][0], spans[at + 1][1]], ...spans.slice(at + 2)];
    parts = next;
  }
  return spans.map(([a, b]) =>
    done.filter((m) => m.span[0] >= a && m.span[1] <= b).map((m) => m.pair),
  );
}
