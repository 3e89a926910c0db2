/**
 * `kindling deploy [-t template.yaml]`: reads a SAM template, deploys what
 * changed, prints what it did.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { DEFAULT_ACCOUNT_ID } from '../../shared/arn.js';
import type { KindlingClient } from '../client.js';
import { table, type Output } from '../output.js';
import { applyModel, type DeployResult } from './apply.js';
import { buildModel, parseParameterOverrides } from './model.js';
import { parseTemplate } from './template.js';

export interface DeployFlags {
  readonly template?: string;
  readonly stackName?: string;
  readonly parameterOverrides?: string[];
  readonly region?: string;
  readonly json?: boolean;
}

/** The template file: -t, else template.yaml / template.yml / template.json here (as sam looks for it). */
export function templatePath(flag: string | undefined, cwd = process.cwd()): string {
  if (flag !== undefined) return flag;
  for (const name of ['template.yaml', 'template.yml', 'template.json']) if (existsSync(resolve(cwd, name))) return name;
  throw new Error('no template.yaml here: give the template with -t FILE');
}

export async function deployCommand(client: KindlingClient, out: Output, flags: DeployFlags): Promise<void> {
  const file = templatePath(flags.template);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the template ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const template = parseTemplate(text, file, dirname(resolve(file)));
  const model = buildModel(template, {
    ...(flags.stackName !== undefined ? { stackName: flags.stackName } : {}),
    region: flags.region ?? (process.env['AWS_REGION'] || process.env['AWS_DEFAULT_REGION'] || 'us-east-1'),
    accountId: DEFAULT_ACCOUNT_ID,
    parameterOverrides: parseParameterOverrides(flags.parameterOverrides ?? []),
  });
  for (const w of model.warnings) out.error(`${out.color.yellow('warning:')} ${w}`);
  let result: DeployResult;
  try {
    result = await applyModel(client, model, { progress: (m) => out.progress(m) });
  } finally {
    out.done();
  }
  if (flags.json) return out.line(JSON.stringify(result, null, 2));
  for (const line of summary(result, out)) out.line(line);
}

/** The summary lines: one per layer and function, then URLs and routes. */
export function summary(result: DeployResult, out: Output): string[] {
  const c = out.color;
  const lines: string[] = [];
  const paint = (action: string, text: string) =>
    action === 'unchanged' ? c.dim(text) : action === 'created' || action === 'published' ? c.green(text) : c.yellow(text);
  const rows: string[][] = [];
  const actions: string[] = [];
  for (const l of result.layers) {
    rows.push([l.action, `layer ${l.layerName}:${l.version}`]);
    actions.push(l.action);
  }
  for (const f of result.functions) {
    const detail = f.action === 'updated' && f.changes.length > 0 ? ` (${f.changes.join(', ')})` : '';
    rows.push([f.action, `${f.name}${detail}`]);
    actions.push(f.action);
  }
  table(rows).forEach((l, i) => lines.push(paint(actions[i]!, l)));
  const extra: string[][] = [];
  for (const f of result.functions) {
    if (f.alias) extra.push(['alias', `${f.name}:${f.alias.name}`, `→ version ${f.alias.version}`]);
    if (f.url) extra.push(['url', f.name, f.url]);
    for (const r of f.routes ?? []) extra.push(['route', f.name, `${r.Method} ${r.Url ?? r.Path}${r.Qualifier !== undefined ? ` → ${f.name}:${r.Qualifier}` : ''}`]);
  }
  if (extra.length > 0) lines.push('', ...table(extra));
  if (result.functions.some((f) => (f.routes ?? []).some((r) => r.Url === undefined))) {
    lines.push(c.dim("(routes are served by the platform's HTTP front door: `kindling up --http-port`, by default the API's port + 1)"));
  }
  return lines;
}
