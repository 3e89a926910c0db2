/**
 * A second baseline: the architecture's floor. A node:http server that runs
 * no handler itself but relays each request to one of its child processes,
 * one child per concurrent request (as Kindling runs one sandbox per
 * concurrent invoke), over a pipe with the leanest framing there is: a u32
 * length and the bytes, each way. Nothing else: no concurrency slot, no
 * routing, no logs, no isolation, no deadline. What separates it from the
 * bare server is only what one process per concurrent request costs (a
 * wake-up of another process, two more writes and reads per request); what
 * separates Kindling from it is everything Kindling does beyond that.
 *
 *   node relay-server.js HANDLER_FILE        prints `listening <port>`
 *   node relay-server.js HANDLER_FILE --child  (the children, fd 3 their pipe)
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { Socket } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [handlerFile, mode] = process.argv.slice(2);

/** Calls `onFrame` with each whole frame that arrives on `socket`. */
function readFrames(socket: Socket, onFrame: (body: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = pending.readUInt32BE(0);
      if (pending.length < 4 + size) break;
      onFrame(pending.subarray(4, 4 + size));
      pending = pending.subarray(4 + size);
    }
  });
}

function frame(body: Buffer | string): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const out = Buffer.allocUnsafe(4 + bytes.length);
  out.writeUInt32BE(bytes.length, 0);
  bytes.copy(out, 4);
  return out;
}

if (mode === '--child') {
  const mod = (await import(pathToFileURL(handlerFile!).href)) as { handler: (event: unknown, context: unknown) => Promise<unknown> };
  const context = {};
  const channel = new Socket({ fd: 3, readable: true, writable: true });
  channel.on('close', () => process.exit(0)); // the server is gone
  readFrames(channel, (body) => {
    const event: unknown = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    void mod.handler(event, context).then((result) => channel.write(frame(JSON.stringify(result === undefined ? null : result))));
  });
} else {
  interface Child {
    readonly channel: Socket;
    answer: ((body: Buffer) => void) | undefined;
  }
  const idle: Child[] = [];
  const self = fileURLToPath(import.meta.url);
  const take = (): Child => {
    const found = idle.pop();
    if (found) return found;
    const proc = spawn(process.execPath, [self, handlerFile!, '--child'], { env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
    const child: Child = { channel: proc.stdio[3] as Socket, answer: undefined };
    readFrames(child.channel, (body) => child.answer?.(body));
    return child;
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const child = take();
      child.answer = (out) => {
        child.answer = undefined;
        idle.push(child);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': out.length });
        res.end(out);
      };
      child.channel.write(frame(Buffer.concat(chunks)));
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
  });
}
