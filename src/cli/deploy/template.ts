/**
 * Loading a SAM template (YAML or JSON) into a small tree that remembers the
 * line of every node, so each error can name the template line
 * ("template.yaml:14: …"). CloudFormation's short-form tags (!Ref, !Sub,
 * !GetAtt, …) become their long form ({"Ref": …}, {"Fn::Sub": …}), so the
 * rest of deploy sees one form.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

export type TValue = TScalar | TMap | TSeq;

export interface TScalar {
  readonly kind: 'scalar';
  readonly value: string | number | boolean | null;
  readonly line: number;
}

export interface TEntry {
  readonly key: string;
  readonly keyLine: number;
  readonly value: TValue;
}

export interface TMap {
  readonly kind: 'map';
  readonly entries: readonly TEntry[];
  readonly line: number;
}

export interface TSeq {
  readonly kind: 'seq';
  readonly items: readonly TValue[];
  readonly line: number;
}

/** Something wrong in the template, at a line of it. */
export class TemplateError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${file}:${line}: ${problem}`);
    this.name = 'TemplateError';
  }
}

export interface Template {
  /** The file name errors are reported against (as the user gave it). */
  readonly file: string;
  /** The directory relative paths (CodeUri, ContentUri) are taken from. */
  readonly dir: string;
  readonly root: TMap;
}

/** The function tags of CloudFormation's short form; !Ref and !Condition have no Fn:: prefix. */
function longForm(tag: string): string {
  const name = tag.slice(1);
  return name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`;
}

/** Parses the template text; a YAML syntax error is a TemplateError at its line. */
export function parseTemplate(text: string, file: string, dir: string): Template {
  const lines = new LineCounter();
  // The YAML 1.2 core schema: "yes"/"no"/"on" stay strings, which is what templates mean by them.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (offset: number | undefined): number => (offset === undefined ? 1 : lines.linePos(offset).line);
  const firstError = doc.errors[0];
  if (firstError) throw new TemplateError(file, lineOf(firstError.pos[0]), `not a valid YAML or JSON template: ${firstError.message.split('\n')[0]}`);

  const convert = (node: unknown): TValue => {
    if (isAlias(node)) return convert(node.resolve(doc));
    const n = node as Node | null;
    const line = lineOf(n?.range?.[0]);
    let value: TValue;
    if (n === null || n === undefined) value = { kind: 'scalar', value: null, line };
    else if (isScalar(n)) {
      const v = n.value;
      value = { kind: 'scalar', value: typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null ? v : n.toString(), line };
    } else if (isSeq(n)) value = { kind: 'seq', items: n.items.map((i) => convert(i)), line };
    else if (isMap(n)) {
      const entries: TEntry[] = [];
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const key = pair.key as Node | null;
        const keyLine = lineOf(key?.range?.[0]);
        if (!isScalar(key) || (typeof key.value !== 'string' && typeof key.value !== 'number')) throw new TemplateError(file, keyLine, 'map keys must be plain strings');
        entries.push({ key: String(key.value), keyLine, value: convert(pair.value) });
      }
      value = { kind: 'map', entries, line };
    } else throw new TemplateError(file, line, 'unexpected YAML node');

    const tag = n?.tag;
    if (tag && tag.startsWith('!') && !tag.startsWith('!!')) {
      let arg = value;
      if (tag === '!GetAtt' && value.kind === 'scalar' && typeof value.value === 'string') {
        // "!GetAtt Resource.Attribute" splits at the first dot (the attribute may contain dots).
        const dot = value.value.indexOf('.');
        const parts = dot < 0 ? [value.value] : [value.value.slice(0, dot), value.value.slice(dot + 1)];
        arg = { kind: 'seq', items: parts.map((p) => ({ kind: 'scalar', value: p, line })), line };
      }
      return { kind: 'map', entries: [{ key: longForm(tag), keyLine: line, value: arg }], line };
    }
    return value;
  };

  const root = convert(doc.contents);
  if (root.kind !== 'map') throw new TemplateError(file, root.line, 'a template is a map with Resources (and Transform: AWS::Serverless-2016-10-31)');
  return { file, dir, root };
}

/** The entry of a map by key. */
export function entry(map: TMap, key: string): TEntry | undefined {
  return map.entries.find((e) => e.key === key);
}

/** The value of a map by key. */
export function get(map: TMap, key: string): TValue | undefined {
  return entry(map, key)?.value;
}

/** A plain (non-intrinsic) map value, or a TemplateError naming `what`. */
export function asMap(t: Template, v: TValue, what: string): TMap {
  if (v.kind !== 'map') throw new TemplateError(t.file, v.line, `${what} must be a map`);
  return v;
}
