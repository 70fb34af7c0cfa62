// Operand sets in the contraction optimiser are 32-bit masks: a sum of products has at most this many
// operands. Forming sums of products (merge.ts) stops inlining before a net would exceed it.
export const MAX_OPERANDS = 30;
