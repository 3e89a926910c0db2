import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('./inherited-fds.js', import.meta.url));

it('closes descriptors inherited without close-on-exec, so no child (no sandbox) gets them', { skip: process.platform !== 'linux' }, () => {
  const script = `
    const { closeInheritedFds } = await import(${JSON.stringify(MODULE)});
    const { readdirSync } = await import('node:fs');
    const { execFileSync } = await import('node:child_process');
    const before = readdirSync('/proc/self/fd').map(Number);
    const closed = closeInheritedFds();
    // What the child shell holds at 60 and 200 (readlink opens nothing itself).
    const child = execFileSync('/bin/sh', ['-c', 'for f in 60 200; do readlink /proc/$$/fd/$f || true; done'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\\n').filter(Boolean);
    console.log(JSON.stringify({ before, closed, child }));`;
  // bash's redirections leave 60 and 200 open across exec, as a supervisor's
  // would. (Node itself marks the lowest descriptors close-on-exec at start.)
  const out = spawnSync('/bin/bash', ['-c', 'exec "$0" --input-type=module -e "$1" 60</dev/null 200</dev/null', process.execPath, script], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  assert.equal(out.status, 0);
  const { before, closed, child } = JSON.parse(out.stdout) as { before: number[]; closed: number[]; child: string[] };
  assert.ok(before.includes(60) && before.includes(200));
  assert.ok(closed.includes(60) && closed.includes(200), `closed ${JSON.stringify(closed)}`);
  assert.deepEqual(child, [], `a child still holds ${JSON.stringify(child)}`);
});
