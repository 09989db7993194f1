/**
 * Which hidden states become h_seg (SPEC.md section 6, LISA's one-position shift): for each [SEG]
 * at position i of the sequence, the state at i − 1, the one whose logits predicted it.
 */
export function segStatePositions(ids: ArrayLike<number>, segId: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < ids.length; i++) if (ids[i] === segId) out.push(i - 1);
  return out;
}
