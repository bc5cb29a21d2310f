/**
 * How an agent connects to the cluster's NATS servers: with credentials (the servers refuse
 * anyone without them), reconnecting forever, and noticing a dead connection in seconds.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** Where the cluster's NATS servers are and how to authenticate to them. */
export interface NatsBusOptions {
  /** `nats://host:port` URLs of one or more servers of the same NATS cluster. */
  servers: string | string[];
  /** User and password, as the servers' `authorization { users = [...] }` lists them. */
  user?: string;
  password?: string;
  /** Or a token (`authorization { token = ... }`). */
  token?: string;
  /** A name the servers show for this connection (e.g. the host name). */
  name?: string;
  /**
   * TLS: connections only over TLS, verifying the servers' certificates against `caFile`
   * (PEM) when given, else against the system's certificate authorities.
   */
  tls?: { caFile?: string };
  /** How long one connection attempt may take (default 2,000 ms). */
  connectTimeoutMs?: number;
  /** The wait between reconnection attempts (default 250 ms). */
  reconnectWaitMs?: number;
  /** Client ping interval; two unanswered pings close the connection (default 1,000 ms). */
  pingIntervalMs?: number;
}

/**
 * Connects to NATS with the cluster's credentials. Rejects when the servers refuse them
 * (`Authorization Violation`) or none answers within `connectTimeoutMs`. Once connected it
 * reconnects forever, quickly, so a restarted server costs the agent well under a second.
 */
export function connectNats(options: NatsBusOptions): Promise<NatsConnection> {
  return connect({
    servers: options.servers,
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.password !== undefined ? { pass: options.password } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.tls ? { tls: options.tls.caFile ? { caFile: options.tls.caFile } : {} } : {}),
    timeout: options.connectTimeoutMs ?? 2_000,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectWaitMs ?? 250,
    reconnectJitter: 50,
    pingInterval: options.pingIntervalMs ?? 1_000,
    maxPingOut: 2,
  });
}
