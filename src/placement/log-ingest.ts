/**
 * The platform's end of the worker channel's log path: worker processes
 * POST their sandboxes' log lines here (LOGS_INGEST_PATH, worker/wire.ts;
 * worker/log-shipper.ts sends them), and they go to the platform's log
 * store, the one the logs API reads.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { hasBearer, readCappedBodyAsync, replyJson } from '../shared/http.js';
import { LOGS_INGEST_PATH } from '../worker/wire.js';
import type { LogSink } from '../worker/types.js';

/** A batch is at most ~1 MB of messages (log-shipper.ts); this leaves room for JSON's escaping. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

const batchShape = z.object({
  streams: z.array(
    z.object({
      logGroupName: z.string().min(1).max(512),
      logStreamName: z.string().min(1).max(512),
      events: z.array(z.object({ timestamp: z.number().int().nonnegative(), message: z.string() })),
    }),
  ),
});

export interface LogIngestOptions {
  readonly logs: LogSink;
  /** The fleet's cluster token: only workers may write logs. */
  readonly token: string;
  readonly logger?: { error(message: string, err?: unknown): void };
}

export class LogIngest {
  readonly #o: LogIngestOptions;

  constructor(options: LogIngestOptions) {
    this.#o = options;
  }

  /** True when the request is a worker's log batch; it is then answered. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.url !== LOGS_INGEST_PATH || req.method !== 'POST') return false;
    if (!hasBearer(req, this.#o.token)) {
      replyJson(res, 401, { message: 'bad cluster token' });
      return true;
    }
    readCappedBodyAsync(req, MAX_BATCH_BYTES)
      .then((body) => {
        if (!body) return replyJson(res, 413, { message: `a log batch must be at most ${MAX_BATCH_BYTES} bytes` });
        const parsed = batchShape.safeParse(JSON.parse(body.toString('utf8')));
        if (!parsed.success) return replyJson(res, 400, { message: `not a log batch: ${parsed.error.message}` });
        for (const s of parsed.data.streams) this.#o.logs.append(s.logGroupName, s.logStreamName, s.events);
        replyJson(res, 200, {});
      })
      .catch((err: unknown) => {
        this.#o.logger?.error('a worker log batch could not be read', err);
        if (!res.headersSent) replyJson(res, 400, { message: err instanceof Error ? err.message : String(err) });
      });
    return true;
  }
}
