/**
 * The end-of-invoke marker: the one contract between a runtime inside a
 * sandbox and the worker that reads the sandbox's stdout and stderr pipes.
 *
 * Once an invoke's outcome is known, and BEFORE the runtime POSTs
 * /runtime/invocation/{id}/response or /error for that invoke, it writes
 * `endMarker(id)` to BOTH fd 1 and fd 2 with a synchronous write
 * (fs.writeSync, never process.stdout.write, which user code may replace).
 * Everything the invoke logged to a pipe before its outcome therefore sits
 * before the marker in that pipe, so when the worker receives the POST it
 * can read each pipe up to the marker and know it holds the whole log of
 * that invoke.
 *
 * Format, byte for byte: NUL, `KINDLING-END`, one space, the request id,
 * NUL, LF. NUL cannot appear in a request id, and a function's own output
 * would have to write NUL bytes to forge one.
 *
 * The worker cannot import this file (the runtime tree imports nothing from
 * the host side and vice versa), so it duplicates this format with a comment
 * pointing here. Change both together.
 */

/** Bytes that start a marker. */
export const END_MARKER_PREFIX = '\u0000KINDLING-END ';

/** Bytes that end a marker. */
export const END_MARKER_SUFFIX = '\u0000\n';

/** The marker written after the outcome of invoke `requestId` is known. */
export function endMarker(requestId: string): string {
  return END_MARKER_PREFIX + requestId + END_MARKER_SUFFIX;
}
