// Loaders for the two on-disk spellings of a GPT-2 BPE vocabulary. Hugging Face's
// vocab.json + merges.txt and OpenAI's encoder.json + vocab.bpe have the same formats (a JSON
// map token -> id, and one "left right" merge per line in rank order); only the names differ.

import { decodeByteLevel, unicodeToBytes } from "./bytes-to-unicode.js";
import type { TokenizerData } from "./types.js";

/** Tokens spelled like GPT-2's "<|endoftext|>": the family's convention for special tokens. */
const SPECIAL = /^<\|[^|]+\|>$/;

export function parseHfTokenizer(vocabJson: string, mergesTxt: string): TokenizerData {
  return parseBpe(vocabJson, mergesTxt, "vocab.json", "merges.txt");
}

export function parseOpenAITokenizer(encoderJson: string, vocabBpe: string): TokenizerData {
  return parseBpe(encoderJson, vocabBpe, "encoder.json", "vocab.bpe");
}

function parseBpe(json: string, mergesText: string, vocabName: string, mergesName: string) {
  let vocab: Record<string, number>;
  try {
    vocab = JSON.parse(json);
  } catch (e) {
    throw new Error(`${vocabName}: not valid JSON (${(e as Error).message})`);
  }
  const inverse = unicodeToBytes();
  const tokens: Uint8Array[] = [];
  const pending: [string, number][] = []; // entries that may be specials, settled below
  for (const [spelled, id] of Object.entries(vocab)) {
    // (Ids index a dense array, so a wild one like 1e9 is refused rather than allocated.)
    if (!Number.isInteger(id) || id < 0 || id >= 1 << 24)
      throw new Error(`${vocabName}: token ${JSON.stringify(spelled)} has id ${id}`);
    const bytes = decodeByteLevel(spelled, inverse);
    if (bytes === null)
      throw new Error(
        `${vocabName}: token ${JSON.stringify(spelled)} has a character outside GPT-2's byte ` +
          `alphabet; this is not a byte-level BPE vocabulary`,
      );
    tokens[id] = bytes;
    if (SPECIAL.test(spelled)) pending.push([spelled, id]);
  }
  for (let id = 0; id < tokens.length; id++) tokens[id] ??= new Uint8Array(0); // holes

  const merges = parseMerges(new Map(Object.entries(vocab)), mergesText, mergesName);
  // A "<|...|>" entry is special only if no merge produces it: BPE can never reach it, so the
  // only way to emit it is to match its text while specials are allowed.
  const produced = new Set<string>();
  for (const line of mergesText.split("\n")) produced.add(line.trim().replace(" ", ""));
  const specials: Record<string, number> = {};
  for (const [text, id] of pending) if (!produced.has(text)) specials[text] = id;
  return { tokens, merges, specials };
}

// A Map, not the parsed object: vocab["constructor"] would find Object.prototype's.
function parseMerges(vocab: Map<string, number>, text: string, name: string) {
  const merges: [number, number][] = [];
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || (i === 0 && line.startsWith("#version"))) return;
    const parts = line.split(" ");
    const [left, right] = [vocab.get(parts[0]), vocab.get(parts[1])];
    if (parts.length !== 2 || left === undefined || right === undefined)
      throw new Error(
        `${name} line ${i + 1}: ${JSON.stringify(line)} is not "left right" with both halves ` +
          `in the vocabulary; are the two files from the same tokenizer?`,
      );
    merges.push([left, right]);
  });
  return merges;
}
