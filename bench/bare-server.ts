/**
 * The baseline: the benchmark's handler behind a bare node:http server, the
 * physical limit of a warm invoke on this machine. Run as its own process
 * with a cleared environment, like a sandbox. Prints `listening <port>`.
 *
 * With `--once`, it runs the handler once on '{}' and prints the result: the
 * floor of a cold start (start node, load the handler, run it).
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const [handlerFile, mode] = process.argv.slice(2);
const mod = (await import(pathToFileURL(handlerFile!).href)) as { handler: (event: unknown, context: unknown) => Promise<unknown> };
const context = {};

if (mode === '--once') {
  process.stdout.write(JSON.stringify(await mod.handler({}, context)) + '\n');
} else {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const event: unknown = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      mod.handler(event, context).then(
        (result) => {
          const out = JSON.stringify(result === undefined ? null : result);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
          res.end(out);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
  });
}
