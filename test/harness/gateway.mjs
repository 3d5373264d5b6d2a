// The lab gateway: runs inside one lab namespace (h0) and relays byte streams from a Unix socket to TCP
// addresses of the lab network, so that the test process (in the machine's own namespace, which has no
// link to the lab) can observe the cluster — like `kubectl port-forward`. Each connection starts with one
// line "HOST PORT\n"; the rest is piped both ways. Nothing is routed: only explicitly forwarded
// connections cross, and only from the test process into the lab.
// Usage (by test/harness/lab.ts): ip netns exec NS node gateway.mjs SOCKET_PATH
import fs from 'node:fs';
import net from 'node:net';

const socketPath = process.argv[2];
if (!socketPath) {
  process.stderr.write('usage: gateway.mjs SOCKET_PATH\n');
  process.exit(2);
}
try {
  fs.unlinkSync(socketPath);
} catch {
  // not there
}

const server = net.createServer((client) => {
  let head = Buffer.alloc(0);
  client.on('error', () => client.destroy());
  const onData = (chunk) => {
    head = Buffer.concat([head, chunk]);
    const nl = head.indexOf(10);
    if (nl < 0) {
      if (head.length > 256) client.destroy();
      return;
    }
    client.off('data', onData);
    client.pause();
    const [host, portText] = head.subarray(0, nl).toString('utf8').trim().split(/\s+/);
    const rest = head.subarray(nl + 1);
    const upstream = net.connect({ host, port: Number(portText) });
    upstream.setNoDelay(true);
    upstream.on('error', () => {
      upstream.destroy();
      client.destroy();
    });
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.once('connect', () => {
      if (rest.length) upstream.write(rest);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  };
  client.on('data', onData);
});

server.listen(socketPath, () => {
  fs.chmodSync(socketPath, 0o600);
  process.stdout.write(JSON.stringify({ event: 'ready', socket: socketPath, pid: process.pid }) + '\n');
});
const stop = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
