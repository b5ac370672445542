// Token blocking, shared by the matmuls (matmul.ts, matmul-quant.ts, matmul-q4.ts): a block of
// tokens whose activation rows stay in L2 while every weight tile streams past them once.

// 512 KiB of activation rows per block: fits the L2 of any x86/ARM server core of the last decade.
export const X_BLOCK_BYTES: usize = 512 * 1024;

/**
 * Tokens per block for activation rows of rowBytes: as many as X_BLOCK_BYTES holds, rounded down
 * to a multiple of `multiple` (the tile height, so that only the last block has tokens left over
 * from the tiles), and at least `multiple`.
 */
export function tokenBlock(rowBytes: usize, multiple: i32): i32 {
  const fit = <i32>(X_BLOCK_BYTES / max<usize>(rowBytes, 1));
  return max<i32>(multiple, (fit / multiple) * multiple);
}
