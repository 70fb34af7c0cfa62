// The checker: declarations, hyper-parameters, parameters, layers and methods. Collects every
// error it can (one per failing member) instead of stopping at the first.
import { getInitializer, initializers } from '../../runtime/init/initializers.ts';
import { LilyError, type Diagnostic } from '../diagnostics.ts';
import { fail } from '../diagnostics.ts';
import type * as A from '../syntax/ast.ts';
import { BUILTINS } from './builtins.ts';
import { dimConst, showShape, type Dim } from './dims.ts';
import { Scope, type AttachedAdapter, type ExprInfo, type LayerInfo } from './env.ts';
import { dimOf, exprAsDim, typeOf, type Ctx } from './expr.ts';
import { hyperTy, shapesEqual, showTy, tensorTy, type Ty } from './types.ts';

export interface ParamInfo {
  decl: A.ParamDecl;
  shape: Dim[];
}

export interface UnitInfo {
  decl: A.AdapterDecl | A.ModelDecl;
  params: ParamInfo[];
  layers: Map<string, LayerInfo>;
  methods: Map<string, A.MethodDecl>;
  /** The frozen layer an adapter attaches to. */
  base?: Extract<LayerInfo, { kind: 'Linear' }>;
}

export interface CheckedProgram {
  program: A.Program;
  info: WeakMap<A.Expr, ExprInfo>;
  units: Map<string, UnitInfo>;
  fns: Map<string, A.FnDecl>;
  diagnostics: Diagnostic[];
  /** Some expression reads `training` or `step` or draws random numbers: it behaves differently in training. */
  readsMode: boolean;
}

/** Run fn, turning a LilyError into collected diagnostics. */
function collect(diags: Diagnostic[], fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof LilyError) {
      diags.push(...e.diagnostics);
      return false;
    }
    throw e;
  }
}

export function checkProgram(program: A.Program): CheckedProgram {
  const diagnostics: Diagnostic[] = [];
  const info = new WeakMap<A.Expr, ExprInfo>();
  const global = new Scope();
  const units = new Map<string, UnitInfo>();
  const fns = new Map<string, A.FnDecl>();
  const seen = new Map<string, A.Decl>();
  for (const d of program.decls) {
    const prev = seen.get(d.name);
    if (prev) diagnostics.push({ code: 'E-name', message: `'${d.name}' is declared twice (first at line ${prev.span.line})`, span: d.span });
    seen.set(d.name, d);
    if (BUILTINS[d.name]) diagnostics.push({ code: 'E-name', message: `'${d.name}' is a builtin and cannot be redeclared`, span: d.span });
    if (d.kind === 'fn') {
      global.bind(d.name, { kind: 'fn', decl: d });
      fns.set(d.name, d);
    }
  }
  const models = new Map(program.decls.filter((d): d is A.ModelDecl => d.kind === 'model').map((m) => [m.name, m]));
  const adapters = new Map(program.decls.filter((d): d is A.AdapterDecl => d.kind === 'adapter').map((m) => [m.name, m]));
  for (const d of program.decls) {
    if (d.kind === 'fn') collect(diagnostics, () => checkFunction(d, global, info));
    else units.set(d.name, checkUnit(d, global, info, models, adapters, diagnostics));
  }
  diagnostics.push(...recursionErrors(fns, info));
  // Models that contain themselves through their layers would never finish instantiating.
  for (const [name, u] of units) {
    const seen = new Set<string>();
    const stack = [...u.layers.values()].flatMap((l) => (l.kind === 'model' ? [l.model.name] : []));
    while (stack.length) {
      const m = stack.pop()!;
      if (m === name) {
        diagnostics.push({ code: 'E-type', message: `model '${name}' contains itself through its layers`, span: u.decl.span });
        break;
      }
      if (seen.has(m)) continue;
      seen.add(m);
      stack.push(...[...(units.get(m)?.layers.values() ?? [])].flatMap((l) => (l.kind === 'model' ? [l.model.name] : [])));
    }
  }
  diagnostics.sort((a, b) => (a.span?.start ?? 0) - (b.span?.start ?? 0));
  const readsMode = someExpr(program, (e) => {
    const i = info.get(e);
    return (i?.binding?.kind === 'value' && i.binding.origin === 'mode') || i?.builtin === 'dropout' || i?.builtin === 'uniform';
  });
  return { program, info, units, fns, diagnostics, readsMode };
}

/** Whether any expression in the program satisfies pred (a walk over every AST object). */
function someExpr(program: A.Program, pred: (e: A.Expr) => boolean): boolean {
  const seen = new Set<object>();
  const walk = (v: unknown): boolean => {
    if (!v || typeof v !== 'object' || seen.has(v)) return false;
    seen.add(v);
    if ('kind' in v && 'span' in v && pred(v as A.Expr)) return true;
    return Object.values(v).some(walk);
  };
  return walk(program);
}

/** Functions that call themselves, directly or through others: Lily has no recursion (a program is a finite graph). */
function recursionErrors(fns: Map<string, A.FnDecl>, info: WeakMap<A.Expr, ExprInfo>): Diagnostic[] {
  const calls = new Map<string, Set<string>>();
  const walk = (e: A.Expr, into: Set<string>) => {
    const i = info.get(e);
    if (i?.fn) into.add(i.fn.name);
    for (const v of Object.values(e)) {
      if (Array.isArray(v)) v.forEach((x) => x && typeof x === 'object' && ('kind' in x ? walk(x as A.Expr, into) : 'value' in x ? walk((x as A.Arg).value, into) : 'expr' in x ? walk((x as { expr: A.Expr }).expr, into) : 0));
      else if (v && typeof v === 'object' && 'kind' in v && 'span' in v) walk(v as A.Expr, into);
    }
  };
  for (const [name, d] of fns) {
    const s = new Set<string>();
    walk(d.body, s);
    calls.set(name, s);
  }
  const out: Diagnostic[] = [];
  for (const [name, d] of fns) {
    const seen = new Set<string>();
    const stack = [...(calls.get(name) ?? [])];
    while (stack.length) {
      const f = stack.pop()!;
      if (f === name) {
        out.push({ code: 'E-type', message: `function '${name}' calls itself (directly or through other functions); Lily has no recursion`, span: d.span });
        break;
      }
      if (seen.has(f)) continue;
      seen.add(f);
      stack.push(...(calls.get(f) ?? []));
    }
  }
  return out;
}

function signatureScope(params: A.ValueParam[], outer: Scope, dimsAreNew: boolean): Scope {
  const scope = outer.child();
  for (const p of params) {
    if (p.type.kind === 'tensorType') {
      for (const d of p.type.dims) collectDimNames(d, scope, dimsAreNew);
      scope.bind(p.name, { kind: 'value', ty: tensorTy(p.type.dims.map((d) => dimOf(d, scope))), origin: 'input' });
    } else scope.bind(p.name, { kind: 'value', ty: hyperTy(p.type.hyper === 'Dim' ? 'Int' : p.type.hyper), origin: 'input' });
  }
  return scope;
}

/** Names in an input's type that are not yet known become new (universally quantified) dims. */
function collectDimNames(d: A.DimExpr, scope: Scope, allowNew: boolean): void {
  if (d.kind === 'dimName' && allowNew) scope.dims.add(d.name);
  if (d.kind === 'dimBin') {
    collectDimNames(d.left, scope, allowNew);
    collectDimNames(d.right, scope, allowNew);
  }
}

function checkBody(params: A.ValueParam[], returns: A.ValueTypeAst | undefined, body: A.Expr, scope: Scope, info: WeakMap<A.Expr, ExprInfo>, what: string) {
  const ctx: Ctx = { scope, info, depth: 0 };
  const got = typeOf(body, ctx);
  if (got.kind === 'tensor' && got.idx.length)
    fail('E-shape', `${what} returns a value that still depends on index variable '${got.idx[0].name}'; sum it out with sum[${got.idx[0].name}](…)`, body.span);
  if (!returns) return;
  const want: Ty = returns.kind === 'hyperType' ? hyperTy(returns.hyper === 'Dim' ? 'Int' : returns.hyper) : tensorTy(returns.dims.map((d) => dimOf(d, scope)));
  const gotShape = got.kind === 'tensor' ? got.shape : [];
  if (want.kind === 'tensor' && !shapesEqual(want.shape, gotShape))
    fail('E-shape', `${what} returns ${showTy(got)} but its declared type is ${showShape(want.shape)}`, body.span, { expected: showShape(want.shape), found: showTy(got) });
}

function checkFunction(d: A.FnDecl, global: Scope, info: WeakMap<A.Expr, ExprInfo>) {
  const scope = signatureScope(d.params, global, true);
  checkBody(d.params, d.returns, d.body, scope, info, `function '${d.name}'`);
}

function bindHypers(hypers: A.HyperParam[], scope: Scope, info: WeakMap<A.Expr, ExprInfo>, diags: Diagnostic[]) {
  for (const h of hypers) {
    if (h.hyper === 'Dim') scope.dims.add(h.name);
    else scope.bind(h.name, { kind: 'value', ty: hyperTy(h.hyper), origin: 'hyper' });
    if (h.default)
      collect(diags, () => {
        const t = typeOf(h.default!, { scope, info, depth: 0 });
        const ok = t.kind === 'hyper' && (h.hyper === 'Bool' ? t.base === 'Bool' : h.hyper === 'Float' ? t.base !== 'Bool' : t.base === 'Int');
        if (!ok) fail('E-hyper', `the default of '${h.name}' must be a ${h.hyper === 'Dim' ? 'whole number' : h.hyper}`, h.default!.span, { found: showTy(t) });
      });
  }
}

function checkUnit(d: A.AdapterDecl | A.ModelDecl, global: Scope, info: WeakMap<A.Expr, ExprInfo>, models: Map<string, A.ModelDecl>, adapters: Map<string, A.AdapterDecl>, diags: Diagnostic[]): UnitInfo {
  const scope = global.child();
  const unit: UnitInfo = { decl: d, params: [], layers: new Map(), methods: new Map() };
  bindHypers(d.hypers, scope, info, diags);
  if (d.kind === 'adapter')
    collect(diags, () => {
      if (d.on.name !== 'Linear' || d.on.dims.length !== 2)
        fail('E-type', 'adapters attach to a linear layer: `on Linear[In, Out]`', d.on.span, { found: d.on.name });
      for (const x of d.on.dims) collectDimNames(x, scope, true);
      unit.base = { kind: 'Linear', name: 'base', inDim: dimOf(d.on.dims[0], scope), outDim: dimOf(d.on.dims[1], scope) };
      scope.bind('base', { kind: 'layer', layer: unit.base });
    });
  const ctx: Ctx = { scope, info, depth: 0 };
  for (const c of d.constraints)
    collect(diags, () => {
      const t = typeOf(c, ctx);
      if (t.kind !== 'hyper' || t.base !== 'Bool') fail('E-hyper', 'a `where` condition is a Bool on hyper-parameters and sizes (as `k <= r`)', c.span, { found: showTy(t) });
    });
  for (const m of d.members) {
    if (m.kind !== 'method' && scope.lookup(m.name) && m.name !== 'base') {
      // Members may shadow globals but not each other.
      const dup = d.members.filter((x) => x.kind !== 'method' && x.name === m.name);
      if (dup.length > 1 && dup[0] !== m) diags.push({ code: 'E-name', message: `'${m.name}' is declared twice in ${d.name}`, span: m.span });
    }
    collect(diags, () => {
      switch (m.kind) {
        case 'param':
          return checkParam(m, unit, ctx);
        case 'layer':
          return checkLayer(m, unit, ctx, models, adapters);
        case 'let':
          scope.bind(m.name, { kind: 'value', ty: typeOf(m.value, ctx), origin: 'member' });
          return;
        case 'method':
          unit.methods.set(m.name, m);
          return;
      }
    });
  }
  for (const m of unit.methods.values()) collect(diags, () => checkBody(m.params, m.returns, m.body, signatureScope(m.params, scope, true), info, `${d.name}.${m.name}`));
  if (d.kind === 'adapter' && !unit.methods.has('delta') && !unit.methods.has('forward'))
    diags.push({ code: 'E-adapter', message: `adapter '${d.name}' needs a delta(x) or forward(x) method`, span: d.span });
  if (d.kind === 'adapter' && unit.methods.has('delta') && unit.methods.has('forward'))
    diags.push({ code: 'E-adapter', message: `adapter '${d.name}' has both delta and forward; keep one`, span: unit.methods.get('forward')!.span });
  for (const name of ['delta', 'forward']) {
    const m = unit.methods.get(name);
    if (m && d.kind === 'adapter' && unit.base)
      collect(diags, () => {
        const x = m.params[0];
        const ret = m.returns;
        if (m.params.length !== 1 || x.type.kind !== 'tensorType' || !ret || ret.kind !== 'tensorType')
          fail('E-adapter', `${d.name}.${name} must take one tensor x: [N, In] and declare its result [N, Out]`, m.span);
        const s = signatureScope(m.params, scope, true);
        const inLast = dimOf(x.type.dims[x.type.dims.length - 1], s);
        const outLast = dimOf(ret.dims[ret.dims.length - 1], s);
        if (!shapesEqual([inLast, outLast], [unit.base!.inDim, unit.base!.outDim]))
          fail('E-adapter', `${d.name}.${name} must map [..., ${showShape([unit.base!.inDim]).slice(1, -1)}] to [..., ${showShape([unit.base!.outDim]).slice(1, -1)}]`, m.span, {
            found: `${showShape(x.type.dims.map((q) => dimOf(q, s)))} -> ${showShape(ret.dims.map((q) => dimOf(q, s)))}`,
          });
      });
  }
  return unit;
}

function checkParam(m: A.ParamDecl, unit: UnitInfo, ctx: Ctx) {
  const shape = m.type.dims.map((x) => dimOf(x, ctx.scope));
  // Bound before its initialiser is checked, so a bad initialiser is one error, not one per use.
  unit.params.push({ decl: m, shape });
  ctx.scope.bind(m.name, { kind: 'value', ty: tensorTy(shape), origin: 'param' });
  if (m.init.from) {
    // Computed once by the reference interpreter: it may read base, hyper-parameters, members above.
    const t = typeOf(m.init.from, ctx);
    const got = t.kind === 'tensor' ? t : undefined;
    if (!got || got.idx.length || !shapesEqual(got.shape, shape))
      fail('E-shape', `the initial value of '${m.name}' has the wrong shape`, m.init.from.span, { expected: showShape(shape), found: showTy(t) });
    return checkModifiers(m, ctx);
  }
  let initOk = true;
  try {
    const init = getInitializer(m.init.name);
    for (const a of m.init.args) {
      if (a.name && !init.params.some((p) => p.name === a.name))
        fail('E-init', `initializer '${m.init.name}' has no argument '${a.name}'`, a.span, { expected: init.params.map((p) => p.name).join(', ') || 'no arguments' });
      const t = typeOf(a.value, ctx);
      if (t.kind !== 'hyper' || t.base === 'Bool') fail('E-init', 'initializer arguments must be numbers computed from hyper-parameters', a.value.span, { found: showTy(t) });
    }
    if (m.init.args.filter((a) => !a.name).length > init.params.length) fail('E-init', `initializer '${m.init.name}' takes at most ${init.params.length} argument(s)`, m.init.span);
  } catch (e) {
    if (e instanceof LilyError) throw e;
    initOk = false;
  }
  if (!initOk) fail('E-init', `unknown initializer '${m.init.name}'`, m.init.span, { expected: `${Object.keys(initializers).join(', ')}, or from EXPR` });
  checkModifiers(m, ctx);
}

function checkModifiers(m: A.ParamDecl, ctx: Ctx) {
  if (m.lrScale) {
    const t = typeOf(m.lrScale, ctx);
    if (t.kind !== 'hyper' || t.base === 'Bool') fail('E-hyper', '`lr * ratio` needs a number computed from hyper-parameters', m.lrScale.span, { found: showTy(t) });
    if (!m.trainable) fail('E-hyper', `'${m.name}' is frozen: it has no learning rate to scale`, m.lrScale.span);
  }
  if (m.sharing.kind === 'every') {
    const t = typeOf(m.sharing.count, ctx);
    if (t.kind !== 'hyper' || t.base !== 'Int') fail('E-hyper', '`shared every k layers` needs an Int k', m.sharing.count.span, { found: showTy(t) });
  }
}

const BUILTIN_LAYERS: Record<string, (dims: Dim[], name: string, span: A.Span) => LayerInfo> = {
  Linear: (dims, name, span) => (dims.length === 2 ? { kind: 'Linear', name, inDim: dims[0], outDim: dims[1] } : fail('E-arity', 'Linear takes [In, Out]', span)),
  LayerNorm: (dims, name, span) => (dims.length === 1 ? { kind: 'LayerNorm', name, dim: dims[0] } : fail('E-arity', 'LayerNorm takes [D]', span)),
};

function checkLayer(m: A.LayerDecl, unit: UnitInfo, ctx: Ctx, models: Map<string, A.ModelDecl>, adapters: Map<string, A.AdapterDecl>) {
  let layer: LayerInfo;
  if (m.instance.kind === 'builtin') {
    const t = m.instance.type;
    const make = BUILTIN_LAYERS[t.name];
    if (!make) fail('E-name', `unknown layer type '${t.name}'`, t.span, { expected: `${Object.keys(BUILTIN_LAYERS).join(', ')} or a model's name with (args)` });
    layer = make(t.dims.map((x) => dimOf(x, ctx.scope)), m.name, t.span);
  } else {
    const inst = m.instance;
    const model = models.get(inst.model);
    if (!model) fail('E-name', `unknown model '${inst.model}'`, inst.span);
    if (model === unit.decl) fail('E-type', `model '${model.name}' cannot contain itself`, inst.span);
    const dimArgs = new Map<string, Dim>();
    const hyperArgs = new Map<string, A.Expr>();
    for (const a of inst.args) {
      const h = model.hypers.find((x) => x.name === a.name);
      if (!a.name || !h) argumentError('model', model, a);
      if (h.hyper === 'Dim') dimArgs.set(h.name, exprAsDim(a.value, ctx.scope));
      else {
        typeOf(a.value, ctx);
        hyperArgs.set(h.name, a.value);
      }
    }
    for (const h of model.hypers)
      if (h.hyper === 'Dim' && !dimArgs.has(h.name)) {
        if (h.default?.kind === 'num') dimArgs.set(h.name, dimConst(h.default.value));
        else fail('E-arity', `model '${model.name}' needs its dimension '${h.name}'`, inst.span);
      }
    layer = { kind: 'model', name: m.name, model, dimArgs, hyperArgs, repeat: m.repeat };
  }
  // The layer is known before its adapter or repeat is checked: a bad `with` is one error, not a
  // cascade of "unknown function" at every use of the layer.
  unit.layers.set(m.name, layer);
  ctx.scope.bind(m.name, { kind: 'layer', layer });
  if (m.repeat && layer.kind !== 'model')
    fail('E-type', `\`repeat\` copies a model block; '${m.name}' is a built-in ${layer.kind}`, m.repeat.span, { notes: [`declare a model holding the ${layer.kind} and repeat that model`] });
  if (m.adapter) {
    if (layer.kind !== 'Linear') fail('E-type', `adapters attach to Linear layers; '${m.name}' is ${layer.kind === 'model' ? `a ${layer.model.name}` : `a ${layer.kind}`}`, m.adapter.span);
    layer.adapter = attachAdapter(m.adapter, layer, ctx, adapters);
  }
  if (m.repeat) {
    const t = typeOf(m.repeat, ctx);
    if (t.kind !== 'hyper' || t.base !== 'Int') fail('E-hyper', '`repeat` needs an Int count', m.repeat.span, { found: showTy(t) });
  }
}


/** A positional argument, or a name the adapter or model does not declare, with what it does take. */
function argumentError(kind: 'adapter' | 'model', decl: A.AdapterDecl | A.ModelDecl, a: A.Arg): never {
  const takes = `${decl.name}(${decl.hypers.map((x) => `${x.name} = …`).join(', ')})`;
  if (!a.name) return fail('E-arity', `${kind} arguments are named: ${takes}`, a.span);
  const near = decl.hypers.map((h) => h.name).filter((n) => n.toLowerCase().includes(a.name!.toLowerCase()) || a.name!.toLowerCase().includes(n.toLowerCase()));
  return fail('E-arity', `${kind} ${decl.name} has no hyper-parameter '${a.name}'`, a.span, {
    expected: decl.hypers.length ? takes : `${decl.name} takes no arguments`,
    notes: near.length ? [`did you mean ${near.map((n) => `'${n}'`).join(' or ')}?`] : undefined,
  });
}

/** `with Adapter(args)`: named arguments for its hyper-parameters; its In/Out are the layer's. */
function attachAdapter(use: NonNullable<A.LayerDecl['adapter']>, layer: Extract<LayerInfo, { kind: 'Linear' }>, ctx: Ctx, adapters: Map<string, A.AdapterDecl>): AttachedAdapter {
  const decl = adapters.get(use.name);
  if (!decl) fail('E-name', `unknown adapter '${use.name}'`, use.span, { expected: [...adapters.keys()].join(', ') || 'an adapter declared in this file' });
  const dimArgs = new Map<string, Dim>();
  const hyperArgs = new Map<string, A.Expr>();
  const [inName, outName] = decl.on.dims.map((d) => (d.kind === 'dimName' ? d.name : undefined));
  if (inName) dimArgs.set(inName, layer.inDim);
  if (outName) dimArgs.set(outName, layer.outDim);
  for (const a of use.args) {
    const h = decl.hypers.find((x) => x.name === a.name);
    if (!a.name || !h) argumentError('adapter', decl, a);
    if (h.hyper === 'Dim') dimArgs.set(h.name, exprAsDim(a.value, ctx.scope));
    else {
      const t = typeOf(a.value, ctx);
      if (t.kind !== 'hyper') fail('E-hyper', `'${h.name}' of ${decl.name} must be a ${h.hyper} computed from hyper-parameters`, a.value.span, { found: showTy(t) });
      hyperArgs.set(h.name, a.value);
    }
  }
  for (const h of decl.hypers)
    if (h.hyper === 'Dim' && !dimArgs.has(h.name) && h.default?.kind !== 'num') fail('E-arity', `adapter '${decl.name}' needs its dimension '${h.name}'`, use.span);
  return { decl, dimArgs, hyperArgs };
}
