// Messages between the page and the compiler worker (compiler-worker.ts).
import type { Explanation } from '../../compiler/explain.ts';
import type { UnitCount } from '../../compiler/params.ts';
import type { VerifyResult } from '../../compiler/verify.ts';

export type WorkerRequest =
  | { id: number; kind: 'explain'; source: string; unit: string; dims: Record<string, number | boolean> }
  | { id: number; kind: 'verify'; source: string; unit: string; runs: number; seed: number; fault?: string };

export interface ExplainReply {
  explanation: Explanation;
  params: UnitCount;
  /** ΔW for random parameters when the adapter merges (shape and Frobenius norm). */
  deltaW?: { shape: number[]; norm: number };
}

export type WorkerReply =
  | { id: number; kind: 'explain'; result: ExplainReply }
  | { id: number; kind: 'progress'; done: number; runs: number }
  | { id: number; kind: 'verify'; result: VerifyResult }
  | { id: number; kind: 'error'; message: string };
