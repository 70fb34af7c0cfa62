// The PEFT interop table: one record per method PEFT implements and Lily's stdlib has in the same
// form. Saving, loading and the PyTorch export all read this table; nothing else knows PEFT's names.
//
// Layouts (ours → PEFT's, see ../shared/peft-fixtures/README.md):
//   transpose  [In, r] ↔ [r, In]: we compute x @ A, PyTorch stores nn.Linear weights [out, in]
//   experts    [E, r, Out] ↔ [E·r, Out]: the same bytes, PEFT's lily_B is 2-D
//   magnitude  DoRA: we train dm with m = ‖W0‖ + dm (zero-initialised); PEFT stores m itself
//   same       no change

export type Layout = 'transpose' | 'experts' | 'magnitude' | 'same';

export interface TensorMapping {
  /** Our parameter name in the stdlib adapter. */
  param: string;
  /** PEFT's key suffix after the module path (`lora_A.weight`; DoRA's magnitude has no `.weight`). */
  key: string;
  layout: Layout;
}

export interface HyperMapping {
  /** Our hyper-parameter name. */
  ours: string;
  /** PEFT's config field. */
  peft: string;
  /** PEFT's default, which PEFT uses when the field is absent. */
  default: number | boolean;
}

export interface PeftMethod {
  /** What users call it (`--method`, messages). */
  name: string;
  peftType: string;
  /** The stdlib adapter that computes exactly PEFT's formula, and its file under stdlib/. */
  adapter: string;
  stdlib: string;
  tensors: TensorMapping[];
  hypers: HyperMapping[];
  /** Config fields that select this variant of the peft_type (DoRA is LORA with use_dora = true). */
  variant: Record<string, unknown>;
  /** Every other field of PEFT's config class, with PEFT's defaults: written as they are. */
  defaults: Record<string, unknown>;
  /**
   * Fields a reader must find at these values: each switches on a PEFT feature this method's
   * stdlib adapter does not compute (a file using one is refused, not misread).
   */
  required: Record<string, unknown>;
}

/** PEFT's format version these records follow (the golden files' PEFT). */
export const PEFT_FORMAT_VERSION = '0.20.1.dev0';

/** Fields of every PEFT config (PeftConfigMixin / PeftConfig). */
const COMMON = { task_type: null, base_model_name_or_path: null, revision: null, inference_mode: true } as const;

const LORA_DEFAULTS = {
  ...COMMON,
  alora_invocation_tokens: null,
  alpha_pattern: {},
  arrow_config: null,
  bias: 'none',
  corda_config: null,
  ensure_weight_tying: false,
  eva_config: null,
  exclude_modules: null,
  fan_in_fan_out: false,
  init_lora_weights: true,
  kasa_config: null,
  layer_replication: null,
  layers_pattern: null,
  layers_to_transform: null,
  loftq_config: {},
  lora_bias: false,
  lora_dropout: 0.0,
  lora_ga_config: null,
  megatron_config: null,
  megatron_core: 'megatron.core',
  modules_to_save: null,
  monteclora_config: null,
  qalora_group_size: 16,
  rank_pattern: {},
  target_parameters: null,
  trainable_token_indices: null,
  use_bdlora: null,
  use_qalora: false,
  velora_config: null,
};

/** LoRA features that change the weights or the computation; the stdlib LoRA/DoRA compute none. */
const LORA_REQUIRED = {
  fan_in_fan_out: false,
  bias: 'none',
  lora_bias: false,
  rank_pattern: {},
  alpha_pattern: {},
  layers_to_transform: null,
  layer_replication: null,
  target_parameters: null,
  trainable_token_indices: null,
  use_qalora: false,
  alora_invocation_tokens: null,
  arrow_config: null,
  use_bdlora: null,
  loftq_config: {},
  eva_config: null,
  corda_config: null,
  lora_ga_config: null,
  megatron_config: null,
  monteclora_config: null,
  velora_config: null,
  kasa_config: null,
};

const LILY_DEFAULTS = { ...COMMON, exclude_modules: null, init_weights: true, layers_pattern: null, layers_to_transform: null, modules_to_save: null };
const LILY_REQUIRED = { layers_to_transform: null };

const LORA_TENSORS: TensorMapping[] = [
  { param: 'A', key: 'lora_A.weight', layout: 'transpose' },
  { param: 'B', key: 'lora_B.weight', layout: 'transpose' },
];

export const PEFT_METHODS: PeftMethod[] = [
  {
    name: 'lora',
    peftType: 'LORA',
    adapter: 'LoRA',
    stdlib: 'adapters/lora.lily',
    tensors: LORA_TENSORS,
    hypers: [
      { ours: 'r', peft: 'r', default: 8 },
      { ours: 'alpha', peft: 'lora_alpha', default: 8 },
      { ours: 'rslora', peft: 'use_rslora', default: false },
    ],
    variant: { use_dora: false },
    defaults: LORA_DEFAULTS,
    required: LORA_REQUIRED,
  },
  {
    name: 'dora',
    peftType: 'LORA',
    adapter: 'DoRA',
    stdlib: 'adapters/dora.lily',
    tensors: [...LORA_TENSORS, { param: 'dm', key: 'lora_magnitude_vector', layout: 'magnitude' }],
    hypers: [
      { ours: 'r', peft: 'r', default: 8 },
      { ours: 'alpha', peft: 'lora_alpha', default: 8 },
    ],
    variant: { use_dora: true, use_rslora: false },
    defaults: LORA_DEFAULTS,
    required: LORA_REQUIRED,
  },
  {
    name: 'lily',
    peftType: 'LILY',
    adapter: 'Lily',
    stdlib: 'adapters/lily.lily',
    tensors: [
      { param: 'A', key: 'lily_A.weight', layout: 'transpose' },
      { param: 'R', key: 'lily_router.weight', layout: 'transpose' },
      { param: 'B', key: 'lily_B.weight', layout: 'experts' },
    ],
    hypers: [
      { ours: 'r', peft: 'r', default: 32 },
      { ours: 'E', peft: 'num_B', default: 2 },
      { ours: 'stride', peft: 'stride_A', default: 1 },
      { ours: 'scale', peft: 'scaling', default: 1.0 },
    ],
    variant: {},
    defaults: LILY_DEFAULTS,
    required: LILY_REQUIRED,
  },
];

/**
 * Methods PEFT has whose stdlib form here is not (yet) checked against PEFT's layout: saved as a
 * Lily program folder (which PEFT refuses to load) rather than under a peft_type PEFT would misread.
 */
export const PEFT_HAS_BUT_UNMAPPED: Record<string, string> = {
  VeRA: 'VERA',
  LoHa: 'LOHA',
  LoKr: 'LOKR',
  IA3: 'IA3',
  AdaLoRA: 'ADALORA',
  FourierFT: 'FOURIERFT',
};

/** The peft_type written for an adapter PEFT does not have: PEFT refuses it instead of misreading it. */
export const LILY_PROGRAM_TYPE = 'LILY_PROGRAM';

export const methodByName = (name: string) => PEFT_METHODS.find((m) => m.name === name);

/** The method a PEFT config describes, or a reason it cannot be read. */
export function methodForConfig(config: Record<string, unknown>): PeftMethod | string {
  const type = config.peft_type;
  if (typeof type !== 'string') return 'it has no peft_type';
  const candidates = PEFT_METHODS.filter((m) => m.peftType === type);
  if (!candidates.length) {
    const known = [...new Set(PEFT_METHODS.map((m) => m.peftType))].join(', ');
    return `peft_type '${type}' is not a method Lily reads (reads ${known}, and ${LILY_PROGRAM_TYPE} folders written by Lily)`;
  }
  // The variant whose selecting fields all hold (a missing field takes PEFT's default: false/null).
  const found = candidates.find((m) => Object.entries(m.variant).every(([k, v]) => (config[k] ?? false) === v));
  if (!found) return `no ${type} variant Lily computes matches ${candidates.flatMap((m) => Object.keys(m.variant)).filter((k, i, a) => a.indexOf(k) === i).map((k) => `${k} = ${JSON.stringify(config[k])}`).join(', ')}`;
  return found;
}

/** Fields of a config that switch on features the method's adapter does not compute. */
export function unsupportedFields(method: PeftMethod, config: Record<string, unknown>): string[] {
  return Object.entries(method.required)
    .filter(([k, want]) => k in config && JSON.stringify(config[k]) !== JSON.stringify(want))
    .map(([k]) => `${k} = ${JSON.stringify(config[k])}`);
}
