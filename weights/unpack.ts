// Single-file bundle of a converted model, pure (no Node APIs): runs in workerd, where an
// integration test imports one .bin fixture and seeds R2 from it. Node-side packing: pack.ts.
// Layout: u32 LE header length | JSON header | zero pad to 16 | file bytes, each 16-aligned.

export const PACK_FORMAT = "gpt-edge-pack/1";

export interface PackHeader {
  format: typeof PACK_FORMAT;
  name: string;
  /** offset is from the start of the bundle, a multiple of 16 so f32 views need no copy. */
  files: { file: string; offset: number; length: number }[];
}

export interface PackedFile {
  file: string;
  bytes: Uint8Array;
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** Bundles files (in the given order, manifest.json last by convention). */
export function packFiles(name: string, files: PackedFile[]): Uint8Array {
  // Offsets depend on the header's length and vice versa: lay out once, then fix the point.
  let header: PackHeader = { format: PACK_FORMAT, name, files: [] };
  let json: Uint8Array = new Uint8Array();
  for (let dataStart = 0; ;) {
    let off = dataStart;
    header = {
      ...header,
      files: files.map((f) => {
        const entry = { file: f.file, offset: off, length: f.bytes.length };
        off = align16(off + f.bytes.length);
        return entry;
      }),
    };
    json = new TextEncoder().encode(JSON.stringify(header));
    const needed = align16(4 + json.length);
    if (needed <= dataStart) break; // the header fits before the data it describes
    dataStart = needed;
  }
  const last = header.files[header.files.length - 1];
  const out = new Uint8Array(last ? align16(last.offset + last.length) : align16(4 + json.length));
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  files.forEach((f, i) => out.set(f.bytes, header.files[i].offset));
  return out;
}

/** Reads a bundle back; file bytes are views into `bytes` (no copy). */
export function unpackModel(bytes: Uint8Array): { name: string; files: PackedFile[] } {
  const fail = (why: string) => new Error(`not a gpt-edge model bundle (${PACK_FORMAT}): ${why}`);
  if (bytes.length < 4) throw fail(`only ${bytes.length} bytes`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + n > bytes.length) throw fail(`header length ${n} past the end`);
  let header: PackHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)));
  } catch {
    throw fail("header is not JSON");
  }
  if (header.format !== PACK_FORMAT) throw fail(`format is ${JSON.stringify(header.format)}`);
  const files = header.files.map(({ file, offset, length }) => {
    if (offset < 4 + n || offset + length > bytes.length) throw fail(`${file} out of bounds`);
    return { file, bytes: bytes.subarray(offset, offset + length) };
  });
  return { name: header.name, files };
}
