/**
 * Lily's public API, browser-safe: nothing here touches files, processes or native modules.
 * Node-only pieces (files, the fast CPU backend, gpu.js/WebGPU backends, checkpoints on disk, the
 * CLI) are in `lily-lang/node`, which re-exports everything below too.
 *
 * @example
 * ```ts
 * import { checkSource, explain, compileTraining, referenceBackend } from 'lily-lang';
 * const program = checkSource(source, 'my.lily');           // parse + type-check (throws LilyError)
 * const e = explain(program, 'LoRA', { N: 64, In: 32, Out: 32, r: 4 });
 * const trainer = await compileTraining(program, 'LoRA', { dims: { N: 8, In: 16, Out: 16, r: 2 }, backend: referenceBackend });
 * const loss = await trainer.step({ x, t });                 // x: [N, In], t: [N, Out], row-major Float32Array
 * ```
 * @packageDocumentation
 */

// Front end: source text → checked program, and the diagnostics it reports.
export { checkSource, checkSources } from './compiler/frontend-source.ts';
export { parse } from './compiler/syntax/to-ast.ts';
export { checkProgram, type CheckedProgram, type UnitInfo, type ParamInfo } from './compiler/check/check.ts';
export { LilyError, formatDiagnostic, type Diagnostic } from './compiler/diagnostics.ts';
export type { Program as Ast, Span } from './compiler/syntax/ast.ts';

// Compiler: the named stages, what the optimiser did, proofs by property test, merging, counting.
export { compile, flopsSplit, STAGE_NAMES, type CompileOptions, type Program } from './compiler/pipeline.ts';
export { Timings, formatTimings } from './compiler/timings.ts';
export { explain, formatExplanation, type Explanation } from './compiler/explain.ts';
export { verifyAdapter, type VerifyOptions, type VerifyResult, type VerifyFailure } from './compiler/verify.ts';
export { mergeVerdict, type MergeVerdict } from './compiler/analysis/mergeable.ts';
export { countParams, type UnitCount, type ParamCount } from './compiler/params.ts';
export { runEntry, resultJson, type RunOptions } from './compiler/interp/run.ts';

// Training: one fused step (forward, loss, backward, optimiser) on a backend.
export { compileTraining, type TrainOptions, type Trainer } from './runtime/train.ts';
export type { OptimizerConfig, AdamWConfig, SgdConfig } from './compiler/objective.ts';
export type { Backend, Executable } from './runtime/executable.ts';
export { referenceBackend } from './runtime/backends/reference-exec.ts';

// Tensors (float64, row-major), safetensors bytes, and PEFT's formats (method table, folder codec).
export { fromNested, toNested, type Tensor, type Nested } from './runtime/tensor/index.ts';
export { encodeSafetensors, decodeSafetensors, SafetensorsError, type NamedTensor } from './runtime/checkpoint/safetensors-codec.ts';
export { PEFT_METHODS, type PeftMethod } from './runtime/peft/methods.ts';
export { encodeAdapterFolder, decodeAdapterTensors, PeftFormatError, type FolderSpec } from './runtime/peft/folder.ts';
export { encodePeft, decodePeft, trainingOptions, type AdaptedModel, type PeftFiles, type TrainedValues } from './runtime/peft/adapted.ts';
export { adaptModel, type AdaptOptions } from './runtime/peft/adapt.ts';
