#!/usr/bin/env node
// The lab's pod server: plain JavaScript with no dependencies, run as is by
// `nsenter --net=/run/netns/<pod> -- node pod-server.mjs <podName> <nodeName>`.
//
//   HTTP  :8080  any GET (keep-alive) -> {"pod","node","client":"<addr>:<port>"}
//   UDP   :5353  every datagram       -> the same JSON; one bigger than a frame
//                                        (over 1,400 bytes) -> as big an answer: the
//                                        JSON with "got": its size, then spaces
//
// "client" is the peer as this server sees it: the real source pod IP when
// nothing rewrites it, the node's address after SNAT. IPv6 peers are written
// [addr]:port; IPv4 peers of the dual-stack sockets lose their ::ffff: prefix.
// Prints one "ready ..." line once both sockets listen (the lab waits for it).
import { createServer } from 'node:http';
import { createSocket } from 'node:dgram';

const [pod, node] = process.argv.slice(2);
if (!pod || !node) {
  console.error('usage: pod-server.mjs <podName> <nodeName>');
  process.exit(2);
}
const HTTP_PORT = Number(process.env.EKP_LAB_HTTP_PORT || 8080);
const UDP_PORT = Number(process.env.EKP_LAB_UDP_PORT || 5353);

function peer(addr, port) {
  let a = String(addr ?? '');
  if (a.startsWith('::ffff:') && a.includes('.')) a = a.slice(7);
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

function reply(addr, port, extra = {}) {
  return JSON.stringify({ pod, node, client: peer(addr, port), ...extra });
}

/** A big datagram's answer is as big, so that it too travels in fragments. */
function udpReply(msg, rinfo) {
  if (msg.length <= 1400) return reply(rinfo.address, rinfo.port);
  const out = Buffer.alloc(msg.length, ' ');
  out.write(reply(rinfo.address, rinfo.port, { got: msg.length }));
  return out;
}

const fail = (what) => (err) => {
  console.error(`${new Date().toISOString()} ${pod}: ${what}: ${err?.stack ?? err}`);
  process.exit(1);
};

// HTTP
const http = createServer((req, res) => {
  req.resume();
  const body = `${reply(req.socket.remoteAddress, req.socket.remotePort)}\n`;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
http.keepAliveTimeout = 60_000;
http.headersTimeout = 65_000;
http.on('clientError', (_err, socket) => socket.destroy());

function listenHttp() {
  return new Promise((resolve, reject) => {
    const onError = (err) => {
      http.off('error', onError);
      // No IPv6 in this namespace: fall back to IPv4 only.
      if (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL') {
        http.once('error', reject);
        http.listen({ host: '0.0.0.0', port: HTTP_PORT }, resolve);
      } else reject(err);
    };
    http.on('error', onError);
    http.listen({ host: '::', port: HTTP_PORT, ipv6Only: false }, () => {
      http.off('error', onError);
      resolve();
    });
  });
}

// UDP
function listenUdp(type) {
  return new Promise((resolve, reject) => {
    const sock = createSocket(type === 'udp6' ? { type, ipv6Only: false } : { type });
    sock.once('error', reject);
    sock.on('message', (msg, rinfo) => {
      sock.send(udpReply(msg, rinfo), rinfo.port, rinfo.address);
    });
    sock.bind(UDP_PORT, type === 'udp6' ? '::' : '0.0.0.0', () => {
      sock.off('error', reject);
      sock.on('error', (err) => console.error(`${new Date().toISOString()} ${pod}: udp: ${err}`));
      resolve(sock);
    });
  });
}

let udp;
try {
  await listenHttp();
  try {
    udp = await listenUdp('udp6');
  } catch (err) {
    if (err.code !== 'EAFNOSUPPORT' && err.code !== 'EADDRNOTAVAIL') throw err;
    udp = await listenUdp('udp4');
  }
} catch (err) {
  fail('listen')(err);
}

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    udp?.close();
    http.closeAllConnections?.();
    http.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 200).unref();
  });
}
process.on('uncaughtException', fail('uncaught'));

console.log(`${new Date().toISOString()} ready pod=${pod} node=${node} http=${HTTP_PORT} udp=${UDP_PORT} pid=${process.pid}`);
