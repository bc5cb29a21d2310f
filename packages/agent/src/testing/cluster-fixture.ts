/**
 * Test support: agents of a cluster in one test file. One PostgreSQL and one nats-server for
 * the file, a new cluster (its own database, NATS subjects and stream) per test, and cleanups
 * run in reverse after each test. Used by the agent's tests only.
 */
import { type NatsServer, startNatsServer } from '@khutulun/cluster/testing';
import { type PostgresServer, startPostgresServer } from '@khutulun/store-postgres';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type AgentProcess, startAgentProcess } from './agent-process.js';

/** Where a test's cluster is: the agents' `--store`, `--bus` and `--cluster`. */
export interface TestCluster {
  store: string;
  bus: string;
  name: string;
}

/** The file's servers and per-test helpers (see {@link useClusterFixture}). */
export interface ClusterFixture {
  postgres(): PostgresServer;
  nats(): NatsServer;
  /** Runs `fn` after the current test (the last added first). */
  cleanup(fn: () => Promise<unknown> | unknown): void;
  /** A new cluster named `<prefix><pid>x<n>`. */
  newCluster(prefix: string): Promise<TestCluster>;
  /**
   * An agent of `cluster` on `stateDir` as host `host`, with more arguments and environment;
   * SIGKILLed after the test.
   */
  member(
    cluster: TestCluster,
    host: string,
    stateDir: string,
    args?: string[],
    env?: Record<string, string>,
  ): Promise<AgentProcess>;
}

/** Starts the file's servers before its tests, and stops them (and each test's leftovers). */
export function useClusterFixture(): ClusterFixture {
  let postgres: PostgresServer | undefined;
  let nats: NatsServer | undefined;
  let clusters = 0;
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  beforeAll(async () => {
    [postgres, nats] = await Promise.all([startPostgresServer({ fast: true }), startNatsServer()]);
  });
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });
  afterAll(async () => {
    await nats?.stop();
    await postgres?.stop();
  });
  const fixture: ClusterFixture = {
    postgres: () => postgres!,
    nats: () => nats!,
    cleanup: (fn) => void cleanups.push(fn),
    async newCluster(prefix) {
      const name = `${prefix}${process.pid}x${++clusters}`;
      const store = await postgres!.createDatabase(name);
      const bus = `nats://${nats!.user}:${encodeURIComponent(nats!.password)}@127.0.0.1:${nats!.port}`;
      return { store, bus, name };
    },
    async member(cluster, host, stateDir, args = [], env = {}) {
      const agent = await startAgentProcess(
        stateDir,
        [
          '--store',
          cluster.store,
          '--bus',
          cluster.bus,
          '--cluster',
          cluster.name,
          '--host-name',
          host,
          ...args,
        ],
        env,
      );
      cleanups.push(() => agent.kill());
      return agent;
    },
  };
  return fixture;
}
