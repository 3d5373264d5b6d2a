// Downloads and local copies: size bounds (Content-Length and streamed), the stall timeout, network errors,
// and local-file refusals, against a real HTTP server on 127.0.0.1.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { copyLocal, downloadHttp, type DownloadOptions } from '../../src/agent/fetcher/download.ts';
import { FetchAbortedError } from '../../src/agent/fetcher/fetch-error.ts';
import { systemClock } from '../../src/runtime/clock.ts';

describe('fetcher downloads', () => {
  let server: http.Server;
  let base: string;
  let dir: string;
  const open = new Set<http.ServerResponse>();
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-fdl-'));
    server = http.createServer((req, res) => {
      open.add(res);
      res.on('close', () => open.delete(res));
      if (req.url === '/big-declared') {
        res.writeHead(200, { 'content-length': '5000' });
        return res.end(Buffer.alloc(5000));
      }
      if (req.url === '/big-chunked') {
        res.writeHead(200); // no Content-Length: the bound applies while streaming
        res.write(Buffer.alloc(3000));
        return res.end(Buffer.alloc(3000));
      }
      if (req.url === '/stall') {
        res.writeHead(200, { 'content-length': '100' });
        return void res.write('partial');
      }
      if (req.url === '/short') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('only this');
        return void res.socket?.destroy();
      }
      res.writeHead(200, { 'content-length': '5' });
      res.end('hello');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const r of open) r.destroy();
    server.closeAllConnections(); // the fetch client keeps connections alive
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const opts = (o: Partial<DownloadOptions> = {}): DownloadOptions => ({ signal: new AbortController().signal, clock: systemClock, maxBytes: 4096, stallTimeoutMs: 5000, ...o });
  const dest = (n: string) => path.join(dir, n);

  test('downloads a file and reports its size', async () => {
    assert.equal(await downloadHttp(new URL(`${base}/ok`), dest('ok'), opts()), 5);
    assert.equal(fs.readFileSync(dest('ok'), 'utf8'), 'hello');
  });

  test('refuses more than maxBytes, by Content-Length or while streaming', async () => {
    await assert.rejects(downloadHttp(new URL(`${base}/big-declared`), dest('a'), opts()), (e: any) => e.code === 'PAYLOAD_TOO_LARGE' && /5000 bytes/.test(e.message));
    await assert.rejects(downloadHttp(new URL(`${base}/big-chunked`), dest('b'), opts()), (e: any) => e.code === 'PAYLOAD_TOO_LARGE');
  });

  test('fails a stalled download after the stall timeout, and a truncated one', async () => {
    const t0 = Date.now();
    await assert.rejects(downloadHttp(new URL(`${base}/stall`), dest('c'), opts({ stallTimeoutMs: 300 })), /no data received for 300 ms .* after 7 bytes/);
    assert.ok(Date.now() - t0 < 3000);
    await assert.rejects(downloadHttp(new URL(`${base}/short`), dest('d'), opts()), (e: any) => e.code === 'UNAVAILABLE');
  });

  test('network errors name their cause; an abort is an abort', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(downloadHttp(new URL(`http://127.0.0.1:${port}/x`), dest('e'), opts()), /ECONNREFUSED/);
    const ac = new AbortController();
    const p = downloadHttp(new URL(`${base}/stall`), dest('f'), opts({ signal: ac.signal }));
    setImmediate(() => ac.abort());
    await assert.rejects(p, FetchAbortedError);
  });

  test('local copies: missing, not a regular file, too big, not readable by the task user', async () => {
    fs.writeFileSync(dest('src'), 'local');
    assert.equal(await copyLocal(dest('src'), dest('copy'), opts()), 5);
    assert.equal(fs.readFileSync(dest('copy'), 'utf8'), 'local');
    await assert.rejects(copyLocal(dest('nope'), dest('x'), opts()), /no such file/);
    await assert.rejects(copyLocal(dir, dest('x'), opts()), /not a regular file/);
    await assert.rejects(copyLocal(dest('src'), dest('x'), opts({ maxBytes: 2 })), (e: any) => e.code === 'PAYLOAD_TOO_LARGE');
    fs.chmodSync(dest('src'), 0o600);
    const other = { uid: process.getuid!() + 12345, gid: process.getgid!() + 12345 };
    await assert.rejects(copyLocal(dest('src'), dest('x'), opts({ owner: other })), /may not read it/);
  });
});
