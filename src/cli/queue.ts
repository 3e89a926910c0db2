/**
 * `kindling queue`: Kindling's named queues, where destinations and
 * dead-letter queues put records of asynchronous invokes (async/queue-api.ts).
 *
 *   kindling queue ls                          the queues and their message counts
 *   kindling queue receive NAME [--max N] [--delete] [--visibility S]
 *   kindling queue redrive NAME                every message back to its function as an Event invoke
 */
import { QUEUES_PATH } from '../async/queue-api.js';
import type { QueueMessageView } from '../async/queue-api.js';

async function call(endpoint: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${endpoint}${QUEUES_PATH}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not JSON: say it as it came
    }
    throw new Error(`${endpoint} answered ${res.status}: ${message}`);
  }
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

export async function listQueues(endpoint: string, json: boolean): Promise<void> {
  const out = (await call(endpoint, 'GET', '')) as { Queues: { Name: string; QueueArn: string; Messages: number }[] };
  if (json) return console.log(JSON.stringify(out, null, 2));
  if (out.Queues.length === 0) return console.log('no queue holds messages');
  const width = Math.max(5, ...out.Queues.map((q) => q.Name.length));
  console.log(`${'QUEUE'.padEnd(width)}  MESSAGES  ARN`);
  for (const q of out.Queues) console.log(`${q.Name.padEnd(width)}  ${String(q.Messages).padStart(8)}  ${q.QueueArn}`);
}

export async function receiveMessages(
  endpoint: string,
  name: string,
  options: { max: number; visibility: number; delete: boolean; json: boolean },
): Promise<void> {
  // --delete takes them for good; otherwise they are only looked at (visibility 0) unless --visibility hides them.
  const out = (await call(endpoint, 'POST', `/${encodeURIComponent(name)}/receive`, {
    MaxNumberOfMessages: options.max,
    VisibilityTimeout: options.delete ? Math.max(options.visibility, 30) : options.visibility,
  })) as { Messages: QueueMessageView[] };
  if (options.delete) for (const m of out.Messages) await call(endpoint, 'DELETE', `/${encodeURIComponent(name)}/messages/${encodeURIComponent(m.MessageId)}`);
  if (options.json) return console.log(JSON.stringify(out, null, 2));
  if (out.Messages.length === 0) return console.log(`queue ${name} has no message to receive`);
  for (const m of out.Messages) {
    const attributes = Object.entries(m.Attributes).map(([k, v]) => `${k}=${v}`).join(' ');
    console.log(`--- ${m.MessageId}  from ${m.SourceFunction}  ${new Date(m.SentTimestamp).toISOString()}${attributes ? `  ${attributes}` : ''}`);
    let body = m.Body;
    try {
      body = JSON.stringify(JSON.parse(m.Body), null, 2);
    } catch {
      // not JSON: print it as it is
    }
    console.log(body);
  }
  if (options.delete) console.log(`(${out.Messages.length} deleted)`);
}

export async function redrive(endpoint: string, name: string): Promise<void> {
  const out = (await call(endpoint, 'POST', `/${encodeURIComponent(name)}/redrive`)) as { Redriven: number };
  console.log(`${out.Redriven} message(s) of ${name} sent back to their functions as Event invokes`);
}
