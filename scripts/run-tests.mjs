#!/usr/bin/env node
// Runs node's test runner over the compiled tests. Node 20's runner does not
// expand globs, so the file list is gathered here.
//   node scripts/run-tests.mjs            every *.test.js under dist/
//   node scripts/run-tests.mjs e2e worker only files whose path contains one of the words
//
// End-to-end tests (dist/test/e2e/) run once per sandbox backend named in
// KINDLING_E2E_SANDBOXES (default "namespace process"), with
// KINDLING_E2E_SANDBOX set for the run (those that do not depend on the
// backend, BACKEND_INDEPENDENT below, with the first one only); the other
// tests run once.
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = collect('dist', [])
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}

const isE2e = (f) => f.includes(join('dist', 'test', 'e2e'));
// End-to-end files about the control plane and the developer tools: what
// they check does not depend on the sandbox backend, so they run with the
// first backend only (the others run with every backend).
const BACKEND_INDEPENDENT = new Set([
  'aws-cli.test.js',
  'cli.test.js',
  'event-invoke-config.test.js',
  'function-urls.test.js',
  'sam-app.test.js',
  'versions.test.js',
]);
const runs = [{ label: 'unit, component and isolation tests', files: files.filter((f) => !isE2e(f)), env: {} }];
const sandboxes = (process.env.KINDLING_E2E_SANDBOXES ?? 'namespace process').split(/\s+/).filter(Boolean);
for (const [i, sandbox] of sandboxes.entries()) {
  const e2e = files.filter((f) => isE2e(f) && (i === 0 || !BACKEND_INDEPENDENT.has(basename(f))));
  runs.push({ label: `end-to-end tests, --sandbox ${sandbox}`, files: e2e, env: { KINDLING_E2E_SANDBOX: sandbox } });
}

let failed = false;
for (const run of runs) {
  if (run.files.length === 0) continue;
  console.log(`\n# ${run.label}`);
  const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...run.files], {
    stdio: 'inherit',
    env: { ...process.env, ...run.env },
  });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
