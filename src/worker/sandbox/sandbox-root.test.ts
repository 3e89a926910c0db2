import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { FORWARDER_PATH, HOST_ETC, writeSandboxEtc } from './sandbox-root.js';

describe('writeSandboxEtc', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-etc-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const etc = join(dir, 'etc');
  writeSandboxEtc(etc, 'exec "$@"', { 'resolv.conf': 'nameserver 10.0.2.3\n' });

  it("holds the sandbox's own users, hosts, forwarder and extra files, never the host's", () => {
    const passwd = readFileSync(join(etc, 'passwd'), 'utf8');
    assert.match(passwd, /^sbx_user1051:x:1051:1051:/m);
    assert.notEqual(passwd, readFileSync('/etc/passwd', 'utf8'));
    assert.equal(readFileSync(join(etc, 'hosts'), 'utf8'), '127.0.0.1\tlocalhost\n::1\tlocalhost\n');
    assert.equal(readFileSync(join(etc, relative('/etc', FORWARDER_PATH)), 'utf8'), 'exec "$@"\n');
    assert.equal(readFileSync(join(etc, 'resolv.conf'), 'utf8'), 'nameserver 10.0.2.3\n');
    assert.equal(existsSync(join(etc, 'shadow')), false);
  });

  it('copies what other users may read of the host files programs need, symlinks as they are', () => {
    for (const host of HOST_ETC) {
      let st;
      try {
        st = lstatSync(host);
      } catch {
        continue;
      }
      const copy = join(etc, relative('/etc', host));
      // A link into /etc is copied as its target (it would dangle in the sandbox); others stay links.
      if (st.isSymbolicLink() && !realpathSync(host).startsWith('/etc/')) assert.equal(readlinkSync(copy), readlinkSync(host), host);
      else if ((statSync(host).mode & 0o004) !== 0) assert.ok(existsSync(copy) && !lstatSync(copy).isSymbolicLink(), host);
    }
    // Nothing that only root may read: /etc/ssl/private on Debian.
    const walk = (d: string): void => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        const st = lstatSync(p);
        if (st.isSymbolicLink()) continue;
        assert.ok((st.mode & 0o004) !== 0, `${p} is readable by others`);
        if (st.isDirectory()) walk(p);
      }
    };
    walk(etc);
    if (existsSync('/etc/ssl/private')) assert.equal(existsSync(join(etc, 'ssl', 'private')), false);
  });
});
