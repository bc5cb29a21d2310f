#!/usr/bin/env node
// Cluster membership: three member processes (@khutulun/cluster's Membership, each with its
// own NATS connection and PostgreSQL pool), each in a network namespace of its own on a
// bridge when we may create namespaces (root), else on loopback. Ten trials, alternating a
// SIGKILL of one member and a cut of its link (link cuts need namespaces; without them every
// trial is a kill). Detection is fault -> `host-lost` received by BOTH survivors (the slower
// of the two), in wall-clock ms on this machine. Between trials the victim is started again
// (after a kill) or its link healed (after a cut), and rejoins with a new epoch; each fault
// comes at a random phase of the heartbeat.
//
// Idle CPU: utime + stime from /proc/PID/stat of each member over IDLE_SECONDS, as a
// percentage of one core, with the default heartbeats (every 500 ms), and again with
// heartbeats every 10 s, which is as good as none: the difference is what heartbeats cost.
import { readFileSync } from 'node:fs';
import {
  canCreateNamespaces,
  createNamespaces,
  startMemberProcess,
  startNatsServer,
} from '@khutulun/cluster/testing';
import { startPostgresServer } from '@khutulun/store-postgres';

const TRIALS = Number(process.env.TRIALS ?? 10);
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 20);
const TICKS = 100; // USER_HZ on Linux
const NAMES = ['a', 'b', 'c'];

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const namespaces = canCreateNamespaces();
const network = namespaces ? createNamespaces(NAMES.length) : undefined;
let postgres;
let nats;
const running = new Map();
let databases = 0;

async function startMembers(timings) {
  const id = `${process.pid}_${++databases}`;
  const postgresUrl = await postgres.createDatabase(`bench_cluster_${id}`);
  const config = (name, i) => ({
    postgresUrl,
    nats: {
      servers: `nats://${network?.gateway ?? '127.0.0.1'}:${nats.port}`,
      user: nats.user,
      password: nats.password,
    },
    cluster: `bench${id}`,
    host: { name, address: network?.namespaces[i].address ?? '127.0.0.1' },
    ...timings,
  });
  const start = (name, i) => startMemberProcess(config(name, i), network?.namespaces[i].name);
  const members = await Promise.all(NAMES.map(start));
  for (const member of members) running.set(member.pid, member);
  return { members, start };
}

async function stopAll() {
  await Promise.all([...running.values()].map((member) => member.stop('SIGKILL')));
  running.clear();
}

/** Waits until every member has heard `host` join or return at an epoch above `above`. */
async function settled(members, host, above) {
  await Promise.all(
    members.map((member) =>
      member.waitFor(
        (r) =>
          r.kind === 'event' &&
          (r.event.type === 'host-joined' || r.event.type === 'host-returned') &&
          r.event.host === host &&
          r.event.epoch > above,
        30_000,
      ),
    ),
  );
}

async function idleCpu(members, seconds) {
  const pids = members.map((m) => m.pid);
  const natsPid = nats.pid();
  const before = pids.map(cpuTicks);
  const natsBefore = cpuTicks(natsPid);
  const t0 = performance.now();
  await sleep(seconds * 1_000);
  const wall = (performance.now() - t0) / 1_000;
  const after = pids.map(cpuTicks);
  const percent = (ticks) => ((ticks / TICKS) * 100) / wall;
  const perMember = after.map((ticks, i) => percent(ticks - before[i]));
  return {
    member: perMember.reduce((a, b) => a + b, 0) / perMember.length,
    nats: percent(cpuTicks(natsPid) - natsBefore),
  };
}

const detections = [];
const kinds = [];
let idleBeating;
let idleQuiet;
try {
  [postgres, nats] = await Promise.all([
    startPostgresServer({ fast: true }),
    startNatsServer({ host: network?.gateway ?? '127.0.0.1' }),
  ]);

  // Idle cost first, on a settled cluster.
  {
    const { members } = await startMembers({});
    for (const name of NAMES) await settled(members, name, 0);
    await sleep(1_000);
    idleBeating = await idleCpu(members, IDLE_SECONDS);
    await stopAll();
  }
  {
    const { members } = await startMembers({
      heartbeatIntervalMs: 10_000,
      fenceAfterMs: 30_000,
      lostAfterMs: 40_000,
    });
    for (const name of NAMES) await settled(members, name, 0);
    await sleep(1_000);
    idleQuiet = await idleCpu(members, IDLE_SECONDS);
    await stopAll();
  }

  const { members, start } = await startMembers({});
  for (const name of NAMES) await settled(members, name, 0);
  for (let trial = 0; trial < TRIALS; trial++) {
    const index = trial % NAMES.length;
    const victim = members[index];
    const name = NAMES[index];
    const survivors = members.filter((m) => m !== victim);
    const cut = namespaces && trial % 2 === 1;
    const from = survivors.map((m) => m.reports.length);
    await sleep(Math.random() * 500); // a random phase of the heartbeat
    const faultAt = Date.now();
    if (cut) network.cut(network.namespaces[index]);
    else {
      running.delete(victim.pid);
      await victim.stop('SIGKILL');
    }
    const seen = await Promise.all(
      survivors.map((m, i) =>
        m.waitFor(
          (r) =>
            r.kind === 'event' &&
            r.event.type === 'host-lost' &&
            r.event.host === name &&
            m.reports.indexOf(r) >= from[i],
          15_000,
        ),
      ),
    );
    const detect = Math.max(...seen.map((r) => r.at)) - faultAt;
    detections.push(detect);
    kinds.push(cut ? 'cut' : 'kill');
    console.log(
      `  trial ${trial + 1}: ${cut ? 'link cut' : 'SIGKILL '} ${name}  detect ${detect} ms`,
    );
    const lostEpoch = seen[0].event.epoch;
    if (cut) {
      network.heal(network.namespaces[index]);
    } else {
      const again = await start(name, index);
      running.set(again.pid, again);
      members[index] = again;
    }
    await settled(
      members.filter((m) => m !== members[index]),
      name,
      lostEpoch,
    );
    await sleep(500);
  }
} finally {
  await stopAll();
  await nats?.stop();
  await postgres?.stop();
  network?.remove();
}

const sorted = [...detections].sort((a, b) => a - b);
const p50 = quantile(sorted, 0.5);
const p99 = quantile(sorted, 0.99);
const heartbeatCost = idleBeating.member - idleQuiet.member;
console.log(
  `cluster membership: ${NAMES.length} member processes ${namespaces ? 'in network namespaces' : 'on loopback (not root: no namespaces, no link cuts)'}`,
);
console.log(
  '  defaults: heartbeat every 500 ms, lost after 2,000 ms of silence, fence after 1,500 ms',
);
console.log(
  `  trials   ${detections.length} (${kinds.filter((k) => k === 'kill').length} SIGKILL, ${kinds.filter((k) => k === 'cut').length} link cut)`,
);
console.log(`  detect p50  ${p50} ms`);
console.log(`  detect p99  ${p99} ms  (goal < 3000 ms)`);
console.log(`  detect max  ${sorted.at(-1)} ms, min ${sorted[0]} ms`);
console.log(
  `  idle CPU per member: ${idleBeating.member.toFixed(3)} % of a core with heartbeats every 500 ms, ${idleQuiet.member.toFixed(3)} % with heartbeats every 10 s (over ${IDLE_SECONDS} s)`,
);
console.log(
  `  heartbeats cost ${heartbeatCost.toFixed(3)} % of a core per member (3 members: each publishes 2 beats/s and receives 6/s)`,
);
console.log(`  nats-server idle CPU: ${idleBeating.nats.toFixed(3)} % of a core (with heartbeats)`);
console.log(
  JSON.stringify({
    hosts: NAMES.length,
    trials: detections.length,
    detect_p50_ms: p50,
    detect_p99_ms: p99,
    idle_cpu_percent: Number(idleQuiet.member.toFixed(3)),
    heartbeat_cpu_percent: Number(heartbeatCost.toFixed(3)),
    nats_server_cpu_percent: Number(idleBeating.nats.toFixed(3)),
  }),
);
