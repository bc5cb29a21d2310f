/**
 * What the OS is really using: the kernel's socket tables (/proc/net/{tcp,tcp6,udp,udp6}) and,
 * to be sure, a bind attempt. A port that an outsider holds is never handed out.
 */
import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Protocol } from '@khutulun/driver';

/**
 * Local ports of every socket of the protocol in this network namespace (any state). Read
 * off the main thread: on a busy host the tables are large and slow for the kernel to render.
 */
export async function portsInUse(protocol: Protocol): Promise<Set<number>> {
  const ports = new Set<number>();
  const texts = await Promise.all(
    [`/proc/net/${protocol}`, `/proc/net/${protocol}6`].map((file) =>
      readFile(file, 'latin1').catch(() => ''),
    ),
  );
  for (const text of texts) {
    for (const line of text.split('\n').slice(1)) {
      // "  sl  local_address rem_address st ...": local_address is ADDR:PORT in hex.
      const local = line.trim().split(/\s+/)[1];
      const port = local
        ? Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16)
        : Number.NaN;
      if (Number.isInteger(port)) ports.add(port);
    }
  }
  return ports;
}

function bindOnce(protocol: Protocol, port: number, host: string): Promise<boolean | 'no-family'> {
  return new Promise((resolve) => {
    const fail = (error: NodeJS.ErrnoException) =>
      resolve(
        error.code === 'EAFNOSUPPORT' || error.code === 'EADDRNOTAVAIL' ? 'no-family' : false,
      );
    if (protocol === 'tcp') {
      const server = createServer();
      server.once('error', fail);
      server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
    } else {
      const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', (error) => {
        socket.close();
        fail(error);
      });
      socket.bind({ port, address: host, exclusive: true }, () =>
        socket.close(() => resolve(true)),
      );
    }
  });
}

/** True when the port can be bound on every address (IPv6 dual-stack, or IPv4 without IPv6). */
export async function canBind(protocol: Protocol, port: number): Promise<boolean> {
  const dual = await bindOnce(protocol, port, '::');
  if (dual === 'no-family') return (await bindOnce(protocol, port, '0.0.0.0')) === true;
  return dual;
}
