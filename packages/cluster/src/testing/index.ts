/** Real daemons and namespaces for the cluster's tests and benchmarks (not for production). */

export type {
  AgentRig,
  AgentRigOptions,
  RigAgent,
  RigEvent,
  RigPostgres,
  RigProcess,
  RigResponse,
} from './agent-rig.js';
export { processAlive, processesUnder, socketRequest, startAgentRig } from './agent-rig.js';
export type { MemberProcess, MemberReport } from './member-process.js';
export { startMemberProcess } from './member-process.js';
export type { NatsServer, NatsServerOptions } from './nats-server.js';
export { startNatsServer } from './nats-server.js';
export type { Namespace, NamespaceNetwork } from './network-namespaces.js';
export { canCreateNamespaces, createNamespaces } from './network-namespaces.js';
export type { RestartedPostgres } from './postgres-restart.js';
export { restartPostgres } from './postgres-restart.js';
