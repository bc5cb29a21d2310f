/**
 * The cluster's foundation: host records, workload owners and fencing epochs in PostgreSQL
 * (which decides), membership heartbeats and cluster events over NATS (which carries).
 */
export type { ClusterErrorCode, ClusterErrorDetails } from './cluster-error.js';
export { CLUSTER_ERROR, ClusterError, isClusterError } from './cluster-error.js';
export type {
  ClusterEvent,
  ClusterEventSubscription,
  ClusterEventsOptions,
  ClusterEventType,
  ReplacementIntent,
  SubscribeFrom,
} from './cluster-events.js';
export { ClusterEvents, clusterSubject } from './cluster-events.js';
export type {
  DeclareLostResult,
  HostInfo,
  HostRecord,
  HostRegistryOptions,
  HostState,
  JoinResult,
  OwnerToken,
  Queryable,
  Replacement,
  ReplacementPolicy,
  WorkloadKey,
  WorkloadOwner,
  WorkloadPlacementRecord,
} from './host-registry.js';
export { checkFence, HostRegistry, openHostRegistry } from './host-registry.js';
export type {
  Cluster,
  ClusterEventListener,
  FenceReason,
  JoinClusterOptions,
  MemberState,
  MembershipOptions,
  MembershipTimings,
} from './membership.js';
export { joinCluster, Membership } from './membership.js';
export type { NatsBusOptions } from './nats-connection.js';
export { connectNats } from './nats-connection.js';
