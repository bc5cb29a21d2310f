import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** One network namespace made by {@link createNamespaces}, joined to the bridge by a veth pair. */
export interface Namespace {
  /** The namespace's name (`ip netns exec NAME ...`). */
  name: string;
  /** Its address on the bridge. */
  address: string;
  /** The host-side end of its veth pair: taking it down cuts the namespace off. */
  hostLink: string;
}

/** Namespaces on one bridge, and how to partition and remove them. */
export interface NamespaceNetwork {
  /** The bridge's address in the root namespace (where a test's servers listen). */
  gateway: string;
  namespaces: Namespace[];
  /** Takes the namespace's link down: nothing reaches it or leaves it. */
  cut(namespace: Namespace): void;
  /** Brings its link back. */
  heal(namespace: Namespace): void;
  /** Removes the namespaces, veth pairs and the bridge (only what this made). */
  remove(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** True when this process may create network namespaces (root with `ip`). */
export function canCreateNamespaces(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates `count` network namespaces, each with a veth pair whose host end is on a new bridge
 * in the root namespace, all in a random 10.213.X.0/24 subnet: the bridge is .1, the
 * namespaces .11, .12, ... Every name carries a random id, so only what this call made is
 * ever touched by `cut`, `heal` and `remove`.
 */
export function createNamespaces(count: number): NamespaceNetwork {
  const id = randomBytes(3).toString('hex');
  const used = execFileSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' });
  let subnet = '';
  for (let attempt = 0; attempt < 50 && !subnet; attempt++) {
    const candidate = `10.213.${randomBytes(1)[0]!}`;
    if (!used.includes(`${candidate}.`)) subnet = candidate;
  }
  if (!subnet) throw new Error('no free 10.213.X.0/24 subnet');
  const bridge = `kcb${id}`;
  const created: { bridge?: string; namespaces: string[] } = { namespaces: [] };
  const remove = () => {
    for (const name of created.namespaces) {
      try {
        // Deleting the namespace deletes the veth end inside it, and so the pair.
        ip('netns', 'delete', name);
      } catch {
        // Already gone.
      }
    }
    created.namespaces = [];
    if (created.bridge) {
      try {
        ip('link', 'delete', created.bridge, 'type', 'bridge');
      } catch {
        // Already gone.
      }
      created.bridge = undefined;
    }
  };
  const namespaces: Namespace[] = [];
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    created.bridge = bridge;
    ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (let i = 0; i < count; i++) {
      const name = `khutulun-cl-${id}-${i}`;
      const hostLink = `kch${id}${i}`;
      const peer = `kcp${id}${i}`;
      const address = `${subnet}.${11 + i}`;
      ip('netns', 'add', name);
      created.namespaces.push(name);
      ip('link', 'add', hostLink, 'type', 'veth', 'peer', 'name', peer);
      ip('link', 'set', peer, 'netns', name);
      ip('link', 'set', hostLink, 'master', bridge);
      ip('link', 'set', hostLink, 'up');
      ip('-n', name, 'link', 'set', 'lo', 'up');
      ip('-n', name, 'addr', 'add', `${address}/24`, 'dev', peer);
      ip('-n', name, 'link', 'set', peer, 'up');
      namespaces.push({ name, address, hostLink });
    }
  } catch (error) {
    remove();
    throw error;
  }
  const mine = (namespace: Namespace) => {
    if (!namespaces.includes(namespace))
      throw new Error(`not a namespace of this network: ${namespace.name}`);
    return namespace;
  };
  return {
    gateway: `${subnet}.1`,
    namespaces,
    cut: (namespace) => ip('link', 'set', mine(namespace).hostLink, 'down'),
    heal: (namespace) => ip('link', 'set', mine(namespace).hostLink, 'up'),
    remove,
  };
}
