/**
 * Baselines for accepting Event invokes, each a bare node:http server run as
 * its own process (so it does not share the load generator's core), answering
 * every POST with 202 and an empty body. Prints `listening <port>`.
 *
 *   node accept-baseline.js bare  DIR   answers at once: the limit of accepting anything over HTTP
 *   node accept-baseline.js fsync DIR   first inserts the request into SQLite (WAL, synchronous=FULL),
 *                                       one transaction per request: the naive durable accept
 */
import http from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const [mode, dir] = process.argv.slice(2);
let insert: ((body: Buffer) => void) | undefined;
if (mode === 'fsync') {
  const db = new Database(join(dir!, 'baseline.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)');
  const stmt = db.prepare('INSERT INTO events (payload) VALUES (?)');
  insert = (body) => void stmt.run(body);
}
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    insert?.(Buffer.concat(chunks));
    res.writeHead(202, { 'content-length': 0 });
    res.end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
