/**
 * How the client commands print: colours only when stdout is a terminal and
 * NO_COLOR is not set (no-color.org), progress lines only when stderr is a
 * terminal, plain text when piped, and tables padded to their widest cell.
 */
import picocolors from 'picocolors';

export type Colors = ReturnType<typeof picocolors.createColors>;

export interface Output {
  readonly color: Colors;
  /** A line on stdout (clears a progress line first). */
  line(text: string): void;
  /** A line on stderr. */
  error(text: string): void;
  /** A transient progress line on a terminal; nothing when stderr is piped. */
  progress(text: string): void;
  /** Clears the progress line. */
  done(): void;
}

interface Stream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/** Colours on when the stream is a terminal and NO_COLOR is unset or empty (no-color.org). */
export function colorEnabled(stream: Stream, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env['NO_COLOR'] && env['TERM'] !== 'dumb';
}

export function makeOutput(stdout: Stream = process.stdout, stderr: Stream = process.stderr, env: NodeJS.ProcessEnv = process.env): Output {
  const color = picocolors.createColors(colorEnabled(stdout, env));
  const errColor = picocolors.createColors(colorEnabled(stderr, env));
  let showing = false;
  const clear = () => {
    if (showing) stderr.write('\r\x1b[K');
    showing = false;
  };
  return {
    color,
    line(text) {
      clear();
      stdout.write(`${text}\n`);
    },
    error(text) {
      clear();
      stderr.write(`${text}\n`);
    },
    progress(text) {
      if (stderr.isTTY !== true) return;
      stderr.write(`\r\x1b[K${errColor.dim(`… ${text}`)}`);
      showing = true;
    },
    done: clear,
  };
}

/** Rows as a table: columns padded to their widest cell (the last one not padded). */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}
