/**
 * Function logs: one log group per function (`/aws/lambda/NAME`), one log
 * stream per sandbox, append-only, with a bounded retention. The worker
 * appends (LogAppender); the logs API reads (LogReader). Field names are
 * CloudWatch Logs' (GetLogEvents / FilterLogEvents / DescribeLogStreams), so
 * people and tools recognise them.
 */

/** One line a sandbox wrote, or one of the platform's lines about it (START, END, REPORT, ...). */
export interface NewLogEvent {
  /** Epoch ms: when the line reached the worker. */
  readonly timestamp: number;
  /** The line without its newline. */
  readonly message: string;
}

/** A stored event, as the API shows it. */
export interface LogEvent {
  readonly logStreamName: string;
  readonly timestamp: number;
  readonly message: string;
  /** Epoch ms: when the store took the event. */
  readonly ingestionTime: number;
}

/** What a worker needs of the store: append, never wait. */
export interface LogAppender {
  /**
   * Appends events to a stream (created on first use, and its group too).
   * Buffered: returns at once, never blocks on disk; the events are readable
   * right away and durable after the next flush.
   */
  append(logGroupName: string, logStreamName: string, events: readonly NewLogEvent[]): void;
}

export interface LogQuery {
  /** Epoch ms, inclusive. */
  readonly startTime?: number;
  /** Epoch ms, exclusive. */
  readonly endTime?: number;
  /** At most this many events (1..10000). */
  readonly limit: number;
  /** From a previous page: only events after the last one it returned. */
  readonly nextToken?: string;
  /** Only this stream's events. */
  readonly logStreamName?: string;
}

export interface LogPage {
  /** In timestamp order (ties: the order they were appended). */
  readonly events: readonly LogEvent[];
  /**
   * Always present: the position after the last event returned (or, with
   * none, the token given, or the group's current end), so that a follower
   * polling with it gets only newer events.
   */
  readonly nextToken: string;
}

export interface LogStreamInfo {
  readonly logStreamName: string;
  readonly creationTime: number;
  /** Undefined while the stream holds no event. */
  readonly firstEventTimestamp: number | undefined;
  readonly lastEventTimestamp: number | undefined;
  /** UTF-8 bytes of the messages the stream holds now. */
  readonly storedBytes: number;
}

/** What the logs API needs of the store. */
export interface LogReader {
  /** A page of a group's events; undefined when the group does not exist. Throws InvalidTokenError for a token it did not make, LogStreamNotFoundError for a stream it does not hold. */
  read(logGroupName: string, query: LogQuery): LogPage | undefined;
  /** The group's streams, most recent first; undefined when the group does not exist. */
  streams(logGroupName: string): readonly LogStreamInfo[] | undefined;
}

/** A nextToken that is not one the store handed out. */
export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
}

/** read() named a logStreamName the group does not hold. */
export class LogStreamNotFoundError extends Error {
  override readonly name = 'LogStreamNotFoundError';
}

/** Retention of every log group: the oldest events go first past either bound. */
export interface LogRetention {
  /** Events older than this are removed. */
  readonly maxAgeMs: number;
  /** A group holding more message bytes than this loses its oldest events. */
  readonly maxBytesPerGroup: number;
}

/** Defaults of `kindling up --log-retention-days` / `--log-retention-mb`. */
export const DEFAULT_LOG_RETENTION_DAYS = 7;
export const DEFAULT_LOG_RETENTION_MB = 100;

/** Lambda's log group of a function (LoggingConfig.LogGroup default). */
export function functionLogGroup(functionName: string): string {
  return `/aws/lambda/${functionName}`;
}
