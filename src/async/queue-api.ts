/**
 * Kindling's named queues over HTTP, on the platform's port: the built-in
 * destination people read without writing a function (`kindling queue`).
 *
 *   GET    /kindling/v1/queues                        the queues and their message counts
 *   POST   /kindling/v1/queues/{name}/receive         {"MaxNumberOfMessages":1..100,"VisibilityTimeout":seconds}
 *                                                     (VisibilityTimeout 0 only looks)
 *   DELETE /kindling/v1/queues/{name}/messages/{id}   deletes one message
 *   POST   /kindling/v1/queues/{name}/redrive         every message back to its function as a new Event invoke
 *
 * Errors are JSON {"message"} with a 4xx status; the body is capped.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Partition } from '../shared/arn.js';
import type { Clock } from '../shared/clock.js';
import { decodePathSegment, readCappedBodyAsync, replyJson } from '../shared/http.js';
import type { Message, MessageQueues } from '../store/event-queue.js';
import { queueArn } from './destinations.js';

export const QUEUES_PATH = '/kindling/v1/queues';
const MAX_BODY = 4096;
const QUEUE_NAME = /^[a-zA-Z0-9_-]{1,80}$/;

const receiveShape = z.object({
  MaxNumberOfMessages: z.number().int().min(1).max(100).optional(),
  VisibilityTimeout: z.number().int().min(0).max(43_200).optional(),
});

/** A message as the API shows it. */
export interface QueueMessageView {
  readonly MessageId: string;
  readonly Body: string;
  readonly Attributes: Record<string, string>;
  /** Epoch ms. */
  readonly SentTimestamp: number;
  readonly ReceiveCount: number;
  readonly SourceFunction: string;
}

function view(m: Message): QueueMessageView {
  return {
    MessageId: m.messageId,
    Body: m.body,
    Attributes: { ...m.attributes },
    SentTimestamp: m.sentAt,
    ReceiveCount: m.receiveCount,
    SourceFunction: m.sourceQualifier === undefined ? m.sourceFunction : `${m.sourceFunction}:${m.sourceQualifier}`,
  };
}

export interface QueueApiOptions {
  readonly queues: MessageQueues;
  readonly clock: Clock;
  readonly partition: Partition;
  /** Called after a redrive put events on the event queue. */
  readonly onRedrive?: () => void;
  readonly logger?: { error(message: string, err?: unknown): void };
}

export class QueueApi {
  readonly #o: QueueApiOptions;

  constructor(options: QueueApiOptions) {
    this.#o = options;
  }

  /** True when the request is one of the queue API's; it is then answered. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '';
    if (url !== QUEUES_PATH && !url.startsWith(`${QUEUES_PATH}/`)) return false;
    this.#route(req, res, url.slice(QUEUES_PATH.length).split('?')[0]!.split('/').filter(Boolean)).catch((err: unknown) => {
      this.#o.logger?.error('queue API request failed', err);
      if (!res.headersSent) replyJson(res, 500, { message: 'Internal error' });
      else res.destroy();
    });
    return true;
  }

  async #route(req: IncomingMessage, res: ServerResponse, parts: string[]): Promise<void> {
    const { queues, clock, partition } = this.#o;
    const method = req.method ?? 'GET';
    const body = await readCappedBodyAsync(req, MAX_BODY);
    if (body === undefined) return replyJson(res, 413, { message: `The request body must be at most ${MAX_BODY} bytes.` });
    if (parts.length === 0 && method === 'GET') {
      const list = await queues.list();
      return replyJson(res, 200, { Queues: list.map((q) => ({ Name: q.name, QueueArn: queueArn(partition, q.name), Messages: q.messages })) });
    }
    const name = decodePathSegment(parts[0] ?? '');
    if (!QUEUE_NAME.test(name)) return replyJson(res, 400, { message: `Invalid queue name '${name}': 1 to 80 letters, digits, '-' or '_'.` });
    if (parts.length === 2 && parts[1] === 'receive' && method === 'POST') {
      let input: z.infer<typeof receiveShape>;
      try {
        input = receiveShape.parse(body.length === 0 ? {} : JSON.parse(body.toString('utf8')));
      } catch {
        return replyJson(res, 400, { message: 'The body must be {"MaxNumberOfMessages": 1..100, "VisibilityTimeout": 0..43200 seconds}.' });
      }
      const messages = await queues.receive(name, input.MaxNumberOfMessages ?? 10, clock.now(), (input.VisibilityTimeout ?? 30) * 1000);
      return replyJson(res, 200, { QueueArn: queueArn(partition, name), Messages: messages.map(view) });
    }
    if (parts.length === 3 && parts[1] === 'messages' && method === 'DELETE') {
      const deleted = await queues.delete(name, decodePathSegment(parts[2]!));
      if (!deleted) return replyJson(res, 404, { message: `No message ${parts[2]} in queue ${name}.` });
      res.writeHead(204);
      res.end();
      return;
    }
    if (parts.length === 2 && parts[1] === 'redrive' && method === 'POST') {
      const redriven = await queues.redrive(name, clock.now(), randomUUID);
      if (redriven > 0) this.#o.onRedrive?.();
      return replyJson(res, 200, { Redriven: redriven });
    }
    return replyJson(res, 404, { message: `No such queue operation: ${method} ${QUEUES_PATH}/${parts.join('/')}` });
  }
}
