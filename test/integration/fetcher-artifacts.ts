// Artifacts for the fetcher tests, built in a temp dir with the system's tar and python3 (for zips and for
// malicious archives GNU tar would not create), and served by a real HTTP server on 127.0.0.1 that counts
// requests per path, can hold a response until the test releases it, and can stall mid-body forever.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface Artifacts {
  dir: string;
  /** Served paths → file contents. */
  files: Map<string, Buffer>;
  /** A directory outside every sandbox that the malicious symlink archive aims at. */
  outside: string;
  /** The name the `../` archives try to plant next to the sandbox. */
  evilName: string;
  remove(): void;
}

function sh(cmd: string, args: string[], cwd: string, input?: string): void {
  const r = spawnSync(cmd, args, { cwd, input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

export function buildArtifacts(): Artifacts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-fetch-art-'));
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-fetch-outside-'));
  const evilName = `corral-evil-${process.pid}-${Date.now()}`;
  fs.mkdirSync(path.join(dir, 'app'));
  fs.writeFileSync(path.join(dir, 'app', 'hello.sh'), '#!/bin/sh\necho hello from the tarball\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'app', 'data.txt'), 'data-from-tar\n');
  sh('tar', ['-czf', 'app.tar.gz', 'app'], dir);
  fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\necho run-script-ran "$@"\n');
  const py = `
import io, sys, tarfile, zipfile
d, evil, outside = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(d + '/conf.zip', 'w') as z:
    z.writestr('conf/settings.txt', 'zip-settings\\n')
def add(t, name, data=b'', kind=tarfile.REGTYPE, link=''):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
with tarfile.open(d + '/evil.tar.gz', 'w:gz') as t:
    add(t, 'fine.txt', b'ok')
    add(t, '../' + evil, b'pwned')
with tarfile.open(d + '/evil-link.tar', 'w') as t:
    add(t, 'escape', kind=tarfile.SYMTYPE, link=outside)
    add(t, 'escape/planted', b'pwned')
with zipfile.ZipFile(d + '/evil.zip', 'w') as z:
    z.writestr('../' + evil, 'pwned')
`;
  sh('python3', ['-c', py, dir, evilName, outside], dir);
  const files = new Map<string, Buffer>();
  for (const name of ['app.tar.gz', 'conf.zip', 'run.sh', 'evil.tar.gz', 'evil-link.tar', 'evil.zip']) files.set(`/${name}`, fs.readFileSync(path.join(dir, name)));
  return {
    dir,
    files,
    outside,
    evilName,
    remove: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(outside, { recursive: true, force: true });
    },
  };
}

export interface ArtifactServer {
  url: string;
  /** Requests received per path. */
  requests: Map<string, number>;
  /** Responses whose client went away before they completed, per path. */
  aborted: Map<string, number>;
  /** Paths under this prefix are answered only once release(path) is called. */
  hold(path: string): void;
  release(path: string): void;
  close(): Promise<void>;
}

/**
 * GET /<file> serves a file; /stall/<name> sends headers and half a body, then nothing; /redirect/<file> answers
 * 302 to /<file>; anything else is 404.
 */
export async function serveArtifacts(files: Map<string, Buffer>): Promise<ArtifactServer> {
  const requests = new Map<string, number>();
  const aborted = new Map<string, number>();
  const held = new Map<string, (() => void)[] | undefined>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    bump(requests, p);
    open.add(res);
    res.on('close', () => {
      open.delete(res);
      if (!res.writableFinished) bump(aborted, p);
    });
    const answer = () => {
      if (p.startsWith('/stall/')) {
        res.writeHead(200, { 'content-length': String(2 * 1024 * 1024) });
        res.write(Buffer.alloc(1024 * 1024));
        return;
      }
      if (p.startsWith('/redirect/')) {
        res.writeHead(302, { location: p.slice('/redirect'.length) });
        return res.end();
      }
      const body = files.get(p);
      if (!body) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        return res.end('no such artifact');
      }
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    };
    const waiting = held.get(p);
    if (waiting) waiting.push(answer);
    else answer();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    aborted,
    hold: (p) => void held.set(p, []),
    release: (p) => {
      const waiting = held.get(p) ?? [];
      held.delete(p);
      for (const answer of waiting) answer();
    },
    close: async () => {
      for (const res of open) res.destroy();
      server.closeAllConnections(); // the agents' fetch client keeps connections alive
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
