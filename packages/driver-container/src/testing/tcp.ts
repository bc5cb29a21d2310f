/** Loopback TCP helpers for tests and benchmarks: a free port, and waiting until one accepts. */
import { connect, createServer } from 'node:net';

/** A free TCP port on loopback (free when asked; the caller uses it at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Whether something accepts a TCP connection on 127.0.0.1:port now. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Waits until 127.0.0.1:port accepts TCP, trying every `intervalMs` (a test's or a
 * benchmark's wait for something it started, never a driver's).
 */
export async function waitForTcp(port: number, timeoutMs = 15_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await accepts(port))) {
    if (Date.now() > deadline) throw new Error(`nothing accepts on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
