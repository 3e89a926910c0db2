/**
 * The client commands of `kindling`: invoke, logs, ls, rm. Each takes the
 * client and an Output, so tests drive them against any server.
 */
import { readFile } from 'node:fs/promises';
import { ApiError, type KindlingClient, type LogEvent } from './client.js';
import { table, type Output } from './output.js';

export interface InvokeFlags {
  readonly payload?: string;
  readonly async?: boolean;
  readonly qualifier?: string;
  readonly json?: boolean;
}

/** `--payload JSON` or `--payload @file` (as the AWS CLI's file:// but shorter); {} when not given. */
export async function readPayload(arg: string | undefined): Promise<Buffer> {
  if (arg === undefined) return Buffer.from('{}');
  if (arg.startsWith('@')) {
    const file = arg.slice(1);
    try {
      return await readFile(file);
    } catch (err) {
      throw new Error(`--payload ${arg}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  return Buffer.from(arg);
}

/**
 * Invokes a function. RequestResponse: the result on stdout, the log tail
 * (X-Amz-Log-Result) on stderr, exit code 1 when X-Amz-Function-Error is set
 * (the error JSON is still printed). --async: an Event invoke, printing its
 * request id. Returns the exit code.
 */
export async function invokeCommand(client: KindlingClient, out: Output, name: string, flags: InvokeFlags): Promise<number> {
  const payload = await readPayload(flags.payload);
  const res = await client.invoke({
    FunctionName: name,
    Payload: payload,
    ...(flags.qualifier !== undefined ? { Qualifier: flags.qualifier } : {}),
    InvocationType: flags.async ? 'Event' : 'RequestResponse',
    LogType: flags.async ? 'None' : 'Tail',
  });
  if (flags.async) {
    if (flags.json) out.line(JSON.stringify({ StatusCode: res.status, RequestId: res.requestId }, null, 2));
    else out.line(res.requestId ?? '');
    return 0;
  }
  const text = res.payload.toString('utf8');
  if (flags.json) {
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: kept as a string
    }
    out.line(
      JSON.stringify(
        {
          StatusCode: res.status,
          ...(res.functionError !== undefined ? { FunctionError: res.functionError } : {}),
          ...(res.executedVersion !== undefined ? { ExecutedVersion: res.executedVersion } : {}),
          ...(res.logTail !== undefined ? { LogResult: Buffer.from(res.logTail).toString('base64') } : {}),
          RequestId: res.requestId,
          Payload: parsed,
        },
        null,
        2,
      ),
    );
  } else {
    if (res.logTail) for (const l of res.logTail.replace(/\n$/, '').split('\n')) out.error(out.color.dim(l));
    out.line(res.functionError ? out.color.red(text) : text);
  }
  return res.functionError ? 1 : 0;
}

/** `10m`, `2h`, `30s`, `1d`, or a date (ISO 8601): the epoch ms it means. */
export function parseSince(value: string, now: number): number {
  const m = /^(\d+)\s*(s|m|h|d|w)$/.exec(value.trim());
  if (m) return now - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's'];
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Error(`--since ${value}: expected a duration like 10m, 2h, 1d or a date like 2026-01-01T10:00:00Z`);
  return t;
}

export interface LogsFlags {
  readonly follow?: boolean;
  readonly since: string;
  readonly json?: boolean;
}

function formatEvent(out: Output, e: LogEvent): string {
  return `${out.color.dim(new Date(e.timestamp).toISOString())} ${e.message.replace(/\n$/, '')}`;
}

/**
 * A function's log events from --since (10 minutes by default, as `aws logs
 * tail`); --follow keeps polling (every 500 ms) until interrupted.
 */
export async function logsCommand(
  client: Pick<KindlingClient, 'getLogs' | 'endpoint'>,
  out: Output,
  name: string,
  flags: LogsFlags,
  deps: { now?: () => number; sleep?: (ms: number) => Promise<void>; stop?: () => boolean } = {},
): Promise<void> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const stopped = deps.stop ?? (() => false);
  let startTime = parseSince(flags.since, now());
  let nextToken: string | undefined;
  // Events already printed at the newest timestamp, when polling resumes from it.
  let seen = new Set<string>();
  let lastTs = -1;
  const collected: LogEvent[] = [];
  let logGroupName: string | undefined;
  for (;;) {
    let page;
    try {
      page = await client.getLogs(name, nextToken ? { nextToken } : { startTime });
    } catch (err) {
      if (err instanceof ApiError && err.unknownOperation) throw new Error(`kindling logs needs a kindling server with the logs API; ${client.endpoint} answered ${err.type} (${err.detail})`);
      throw err;
    }
    logGroupName ??= page.logGroupName;
    for (const e of page.events) {
      const key = `${e.timestamp}\0${e.logStreamName}\0${e.message}`;
      if (e.timestamp < lastTs || (e.timestamp === lastTs && seen.has(key))) continue;
      if (e.timestamp > lastTs) {
        lastTs = e.timestamp;
        seen = new Set();
      }
      seen.add(key);
      if (flags.json && !flags.follow) collected.push(e);
      else if (flags.json) out.line(JSON.stringify(e));
      else out.line(formatEvent(out, e));
    }
    const more = page.nextToken !== undefined && page.nextToken !== nextToken && page.events.length > 0;
    if (!flags.follow) {
      if (!more) break;
      nextToken = page.nextToken;
      continue;
    }
    if (page.nextToken) nextToken = page.nextToken;
    else {
      // The server gave no token to resume from: ask again from the newest event seen.
      nextToken = undefined;
      if (lastTs >= 0) startTime = lastTs;
    }
    if (more) continue;
    if (stopped()) break;
    await sleep(500);
    if (stopped()) break;
  }
  if (flags.json && !flags.follow) out.line(JSON.stringify({ ...(logGroupName !== undefined ? { logGroupName } : {}), events: collected }, null, 2));
}

/** The functions as a table (--json: ListFunctions' JSON). */
export async function lsCommand(client: KindlingClient, out: Output, json: boolean): Promise<void> {
  const fns = await client.listFunctions();
  if (json) return out.line(JSON.stringify({ Functions: fns }, null, 2));
  if (fns.length === 0) return out.line('no functions');
  const rows = [['NAME', 'RUNTIME', 'MEMORY', 'TIMEOUT', 'CODE SIZE', 'LAST MODIFIED']];
  for (const f of [...fns].sort((a, b) => a.FunctionName.localeCompare(b.FunctionName))) {
    rows.push([f.FunctionName, f.Runtime ?? '-', `${f.MemorySize ?? 128} MB`, `${f.Timeout ?? 3} s`, String(f.CodeSize ?? 0), f.LastModified ?? '-']);
  }
  const lines = table(rows);
  out.line(out.color.bold(lines[0]));
  for (const l of lines.slice(1)) out.line(l);
}

/** Deletes a function (or one version with --qualifier) and its kindling routes. */
export async function rmCommand(client: KindlingClient, out: Output, name: string, qualifier?: string): Promise<void> {
  await client.deleteFunction(name, qualifier);
  if (qualifier === undefined) {
    try {
      await client.deleteRoutes(name);
    } catch (err) {
      // No routes, or a server without the routes API: nothing to remove.
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
  out.line(`deleted ${name}${qualifier !== undefined ? `:${qualifier}` : ''}`);
}
