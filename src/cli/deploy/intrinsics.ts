/**
 * CloudFormation's intrinsic functions, as far as they can be worked out on
 * this machine: Ref (parameters, pseudo parameters, the template's functions
 * and layers), Fn::Sub, Fn::GetAtt (a function's Arn, a layer's
 * LayerVersionArn), Fn::Join, Fn::Select, Fn::Split. Anything else
 * (Fn::If, Fn::ImportValue, …) is an error naming the template line.
 * Semantics: CloudFormation's "Intrinsic function reference".
 */
import { TemplateError, type TMap, type TValue } from './template.js';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** What a resource of the template answers to Ref and Fn::GetAtt. */
export interface ResourceRefs {
  readonly type: string;
  readonly ref: string | undefined;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface ResolveContext {
  readonly file: string;
  /** Parameter values after defaults and overrides (List types as arrays). */
  readonly parameters: ReadonlyMap<string, string | string[]>;
  readonly region: string;
  readonly accountId: string;
  readonly stackName: string;
  readonly resources: ReadonlyMap<string, ResourceRefs>;
}

/** A scalar written out as CloudFormation writes it into a string; undefined for lists and maps. */
export function scalarText(x: Json): string | undefined {
  if (typeof x === 'string') return x;
  if (typeof x === 'number' || typeof x === 'boolean') return String(x);
  return x === null ? '' : undefined;
}

/** AWS::NoValue: the property it stands for is left out. */
const NO_VALUE = Symbol('AWS::NoValue');
type Resolved = Json | typeof NO_VALUE;

function pseudo(ctx: ResolveContext, name: string): string | undefined {
  switch (name) {
    case 'AWS::Region':
      return ctx.region;
    case 'AWS::AccountId':
      return ctx.accountId;
    case 'AWS::StackName':
      return ctx.stackName;
    case 'AWS::StackId':
      return `arn:aws:cloudformation:${ctx.region}:${ctx.accountId}:stack/${ctx.stackName}/kindling`;
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    default:
      return undefined;
  }
}

/** The intrinsic function a map stands for: a map of exactly one key, Ref or Fn::*. */
export function intrinsicOf(v: TValue): { name: string; arg: TValue; line: number } | undefined {
  if (v.kind !== 'map' || v.entries.length !== 1) return undefined;
  const e = v.entries[0]!;
  return e.key === 'Ref' || e.key.startsWith('Fn::') || e.key === 'Condition' ? { name: e.key, arg: e.value, line: e.keyLine } : undefined;
}

export class Resolver {
  constructor(readonly ctx: ResolveContext) {}

  #fail(line: number, problem: string): never {
    throw new TemplateError(this.ctx.file, line, problem);
  }

  /** Resolves a value to plain JSON; undefined for AWS::NoValue. */
  resolve(v: TValue): Json | undefined {
    const r = this.#resolve(v);
    return r === NO_VALUE ? undefined : r;
  }

  /** Resolves to a string (numbers and booleans are written out, as CloudFormation does). */
  string(v: TValue, what: string): string {
    const r = this.resolve(v);
    if (typeof r === 'string') return r;
    if (typeof r === 'number' || typeof r === 'boolean') return String(r);
    return this.#fail(v.line, `${what} must be a string`);
  }

  #ref(name: string, line: number): Resolved {
    if (name === 'AWS::NoValue') return NO_VALUE;
    const p = pseudo(this.ctx, name);
    if (p !== undefined) return p;
    if (name.startsWith('AWS::')) return this.#fail(line, `pseudo parameter ${name} is not supported by kindling deploy`);
    const param = this.ctx.parameters.get(name);
    if (param !== undefined) return param;
    const res = this.ctx.resources.get(name);
    if (res) {
      if (res.ref === undefined) return this.#fail(line, `Ref to ${name} (${res.type}) cannot be resolved by kindling deploy`);
      return res.ref;
    }
    return this.#fail(line, `Ref to ${name}: no parameter or resource of that name in the template`);
  }

  #getAtt(resource: string, attribute: string, line: number): string {
    const res = this.ctx.resources.get(resource);
    if (!res) return this.#fail(line, `Fn::GetAtt ${resource}.${attribute}: no resource ${resource} in the template`);
    const value = res.attributes[attribute];
    if (value === undefined) {
      const known = Object.keys(res.attributes);
      return this.#fail(line, `Fn::GetAtt ${resource}.${attribute} is not supported by kindling deploy${known.length ? ` (${res.type} has ${known.join(', ')})` : ''}`);
    }
    return value;
  }

  #sub(template: string, vars: ReadonlyMap<string, Resolved>, line: number): string {
    // ${Name}, ${Resource.Attribute}; ${!Literal} writes ${Literal}.
    return template.replace(/\$\{([^}]*)\}/g, (_whole, inner: string) => {
      if (inner.startsWith('!')) return `\${${inner.slice(1)}}`;
      const name = inner.trim();
      let value: Resolved;
      if (vars.has(name)) value = vars.get(name)!;
      else if (name.includes('.') && !name.startsWith('AWS::')) {
        const dot = name.indexOf('.');
        value = this.#getAtt(name.slice(0, dot), name.slice(dot + 1), line);
      } else value = this.#ref(name, line);
      const parts = value === NO_VALUE ? undefined : Array.isArray(value) ? value.map(scalarText) : [scalarText(value)];
      if (!parts || parts.some((p) => p === undefined)) return this.#fail(line, `Fn::Sub: \${${name}} is not a string`);
      return parts.join(',');
    });
  }

  #resolve(v: TValue): Resolved {
    if (v.kind === 'scalar') return v.value;
    if (v.kind === 'seq') {
      const out: Json[] = [];
      for (const item of v.items) {
        const r = this.#resolve(item);
        if (r !== NO_VALUE) out.push(r);
      }
      return out;
    }
    const fn = intrinsicOf(v);
    if (fn) return this.#intrinsic(fn.name, fn.arg, fn.line);
    const out: Record<string, Json> = {};
    for (const e of (v).entries) {
      const r = this.#resolve(e.value);
      if (r !== NO_VALUE) out[e.key] = r;
    }
    return out;
  }

  #intrinsic(name: string, arg: TValue, line: number): Resolved {
    switch (name) {
      case 'Ref': {
        if (arg.kind !== 'scalar' || typeof arg.value !== 'string') return this.#fail(line, 'Ref takes the name of a parameter or resource');
        return this.#ref(arg.value, line);
      }
      case 'Fn::GetAtt': {
        const parts = this.resolve(arg);
        if (!Array.isArray(parts) || parts.length !== 2 || typeof parts[0] !== 'string' || typeof parts[1] !== 'string') {
          return this.#fail(line, 'Fn::GetAtt takes [Resource, Attribute] (or !GetAtt Resource.Attribute)');
        }
        return this.#getAtt(parts[0], parts[1], line);
      }
      case 'Fn::Sub': {
        if (arg.kind === 'scalar' && typeof arg.value === 'string') return this.#sub(arg.value, new Map(), line);
        if (arg.kind === 'seq' && arg.items.length === 2 && arg.items[0]!.kind === 'scalar' && arg.items[1]!.kind === 'map') {
          const vars = new Map<string, Resolved>();
          for (const e of (arg.items[1] as TMap).entries) vars.set(e.key, this.#resolve(e.value));
          return this.#sub(String((arg.items[0] as { value: unknown }).value), vars, line);
        }
        return this.#fail(line, 'Fn::Sub takes a string, or [string, {Name: value, …}]');
      }
      case 'Fn::Join': {
        const a = this.resolve(arg);
        if (!Array.isArray(a) || a.length !== 2 || typeof a[0] !== 'string' || !Array.isArray(a[1])) {
          return this.#fail(line, 'Fn::Join takes [delimiter, [values]]');
        }
        const parts = a[1].map(scalarText);
        if (parts.some((x) => x === undefined)) return this.#fail(line, 'Fn::Join: the values must be strings');
        return parts.join(a[0]);
      }
      case 'Fn::Select': {
        const a = this.resolve(arg);
        const index = Array.isArray(a) ? Number(a[0]) : NaN;
        const list = Array.isArray(a) ? a[1] : undefined;
        if (!Array.isArray(list) || !Number.isInteger(index)) return this.#fail(line, 'Fn::Select takes [index, [values]]');
        if (index < 0 || index >= list.length) return this.#fail(line, `Fn::Select: index ${index} is out of range (the list has ${list.length} values)`);
        return list[index]!;
      }
      case 'Fn::Split': {
        const a = this.resolve(arg);
        if (!Array.isArray(a) || a.length !== 2 || typeof a[0] !== 'string' || typeof a[1] !== 'string') return this.#fail(line, 'Fn::Split takes [delimiter, string]');
        return a[1].split(a[0]);
      }
      default:
        return this.#fail(line, `${name} is not supported by kindling deploy`);
    }
  }
}
