#!/usr/bin/env node
// An agent with 200 workloads left idle for 60 s: its CPU time (utime + stime from
// /proc/PID/stat) before and after, as a percentage of one core, and its RSS (VmRSS).
import { readFileSync } from 'node:fs';
import { deployThroughAgent, PROCESSES, startAgentProcess } from './deploy.mjs';

const SECONDS = Number(process.env.IDLE_SECONDS ?? 60);
const TICKS = 100; // USER_HZ on Linux

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function rssMb(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) / 1024;
}

const agent = await startAgentProcess();
let cpuPercent;
let rss;
try {
  await deployThroughAgent(agent, PROCESSES, 'on-failure');
  await new Promise((r) => setTimeout(r, 2_000)); // let the deploy's garbage settle
  const before = cpuTicks(agent.pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const after = cpuTicks(agent.pid);
  const elapsed = (performance.now() - t0) / 1000;
  cpuPercent = ((after - before) / TICKS / elapsed) * 100;
  rss = rssMb(agent.pid);
  await agent.api('DELETE', '/v1/services/bench?wait=true');
} finally {
  await agent.stop();
}
console.log(`idle: agent with ${PROCESSES} workloads, ${SECONDS} s`);
console.log(`  cpu   ${cpuPercent.toFixed(3)} % of one core  (goal < 0.1 %)`);
console.log(`  rss   ${rss.toFixed(1)} MB  (goal < 150 MB)`);
console.log(
  JSON.stringify({
    seconds: SECONDS,
    cpu_percent: Number(cpuPercent.toFixed(3)),
    rss_mb: Number(rss.toFixed(1)),
  }),
);
