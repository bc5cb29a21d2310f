#!/usr/bin/env node
// Compiles a generated TOSCA service of 5,000 node templates (requirements, properties with
// functions, four imported type files) to Floria templates, and times it against two floors
// measured in the same run on the same YAML files:
// - parse: `yaml`'s parseDocument with line counting (the document API's positioned read);
// - fast floor: js-yaml 4 with a listener that records every node's position, the fastest
//   positioned read of well-kept parsers (the goal: compiling within 3 times it).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '@khutulun/tosca';
import jsYaml from 'js-yaml';
import { LineCounter, parseDocument } from 'yaml';

const NODES = 5000;
const TYPE_FILES = 4;
const RUNS = 11;

function typeFile(k) {
  const lines = ['tosca_definitions_version: tosca_2_0'];
  if (k > 0) lines.push('imports:', `  - types-${k - 1}.yaml`);
  lines.push(
    'data_types:',
    `  Endpoint${k}:`,
    '    properties:',
    '      host: { type: string }',
    '      port: { type: integer, validation: { $less_or_equal: [ $value, 65535 ] } }',
    'capability_types:',
    `  Host${k}:`,
    '    properties:',
    '      slots: { type: integer, default: 4 }',
    'relationship_types:',
    `  HostedOn${k}:`,
    `    valid_capability_types: [ Host${k} ]`,
    'interface_types:',
    `  Lifecycle${k}:`,
    '    operations:',
    '      start: {}',
    '      stop: {}',
    'node_types:',
    `  Node${k}:`,
    '    properties:',
    '      name: { type: string }',
    '      replicas: { type: integer, default: 1 }',
    `      endpoint: { type: Endpoint${k}, required: false }`,
    '      url: { type: string, required: false }',
    '      labels: { type: map, entry_schema: string, required: false }',
    '    attributes:',
    '      address: { type: string }',
    '    capabilities:',
    `      host: Host${k}`,
    '    requirements:',
    `      - host: { capability: Host${k}, relationship: HostedOn${k}, count_range: [ 0, 1 ] }`,
    '    interfaces:',
    '      lifecycle:',
    `        type: Lifecycle${k}`,
    '        operations:',
    '          start:',
    '            implementation: scripts/start.sh',
    '            inputs:',
    '              address: { type: string, default: { $get_attribute: [ SELF, address ] } }',
  );
  return `${lines.join('\n')}\n`;
}

function serviceFile() {
  const lines = ['tosca_definitions_version: tosca_2_0', 'imports:'];
  for (let k = 0; k < TYPE_FILES; k++)
    lines.push(`  - url: types-${k}.yaml`, `    namespace: t${k}`);
  lines.push(
    'service_template:',
    '  inputs:',
    '    domain: { type: string, default: example.org }',
    '    base_port: { type: integer, default: 8000 }',
    '  node_templates:',
  );
  for (let i = 0; i < NODES; i++) {
    const k = i % TYPE_FILES;
    lines.push(
      `    n${i}:`,
      `      type: t${k}:Node${k}`,
      '      properties:',
      `        name: node-${i}`,
      `        replicas: ${1 + (i % 3)}`,
      `        endpoint: { host: { $concat: [ n${i}., { $get_input: domain } ] }, port: ${1000 + (i % 60000)} }`,
      `        url: { $concat: [ "http://", { $get_attribute: [ SELF, address ] }, ":", { $get_input: base_port } ] }`,
      `        labels: { tier: t${k}, index: "${i}" }`,
    );
    // Each node is hosted on a node of the same type family, declared before it.
    if (i >= TYPE_FILES) lines.push('      requirements:', `        - host: n${i - TYPE_FILES}`);
  }
  lines.push('  outputs:', '    first_url:', '      value: { $get_property: [ n0, url ] }');
  return `${lines.join('\n')}\n`;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const dir = mkdtempSync(join(tmpdir(), 'khutulun-bench-tosca-'));
try {
  const names = [];
  for (let k = 0; k < TYPE_FILES; k++) {
    writeFileSync(join(dir, `types-${k}.yaml`), typeFile(k));
    names.push(`types-${k}.yaml`);
  }
  writeFileSync(join(dir, 'service.yaml'), serviceFile());
  names.push('service.yaml');

  // Warm up (JIT), and check the output is what it should be.
  const warm = await compile({ source: join(dir, 'service.yaml') });
  const errors = warm.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 || !warm.templates) {
    console.error(errors.slice(0, 5));
    throw new Error('the generated service does not compile');
  }
  const edges = warm.templates.filter((e) => e.id.kind === 'edge-template').length;
  if (warm.service?.nodeTemplates.length !== NODES || edges !== NODES - TYPE_FILES) {
    throw new Error(
      `unexpected output: ${warm.service?.nodeTemplates.length} nodes, ${edges} edges`,
    );
  }
  const texts = names.map((n) => readFileSync(join(dir, n), 'utf8'));
  const parseAll = () => {
    for (const text of texts)
      parseDocument(text, {
        lineCounter: new LineCounter(),
        merge: true,
        uniqueKeys: true,
        version: '1.2',
      });
  };
  const fastReadAll = () => {
    for (const text of texts) {
      const positions = [];
      jsYaml.load(text, {
        listener: (event, state) => {
          if (event === 'open') positions.push(state.position);
        },
      });
    }
  };
  parseAll();
  fastReadAll();

  // Wall-clock times (the figures), and the process's CPU time beside them: on a loaded
  // machine the wall clock also counts waiting for a CPU, the CPU time does not.
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const compileMs = [];
  const parseMs = [];
  const fastMs = [];
  const compileCpu = [];
  const fastCpu = [];
  for (let r = 0; r < RUNS; r++) {
    globalThis.gc?.();
    let t = performance.now();
    parseAll();
    parseMs.push(performance.now() - t);
    globalThis.gc?.();
    let u = cpu();
    t = performance.now();
    fastReadAll();
    fastMs.push(performance.now() - t);
    fastCpu.push(cpu() - u);
    globalThis.gc?.();
    u = cpu();
    t = performance.now();
    await compile({ source: join(dir, 'service.yaml') });
    compileMs.push(performance.now() - t);
    compileCpu.push(cpu() - u);
  }
  const c = median(compileMs);
  const p = median(parseMs);
  const f = median(fastMs);
  const bytes = texts.reduce((n, t) => n + t.length, 0);
  console.log(
    `TOSCA compile: ${NODES} node templates, ${edges} requirements, ${TYPE_FILES} imported type files, ${(bytes / 1e6).toFixed(2)} MB of YAML, ${warm.templates.length} entities out`,
  );
  console.log('');
  console.log('                      median     runs (ms)');
  console.log(
    `  parse (yaml)        ${p.toFixed(1).padStart(8)} ms  ${parseMs.map((x) => x.toFixed(0)).join(' ')}`,
  );
  console.log(
    `  fast floor (js-yaml)${f.toFixed(1).padStart(8)} ms  ${fastMs.map((x) => x.toFixed(0)).join(' ')}`,
  );
  console.log(
    `  compile             ${c.toFixed(1).padStart(8)} ms  ${compileMs.map((x) => x.toFixed(0)).join(' ')}`,
  );
  console.log(`  ratio               ${(c / p).toFixed(2).padStart(8)}     (compile / parse)`);
  console.log(
    `  fast ratio          ${(c / f).toFixed(2).padStart(8)}     (compile / fast floor, goal <= 3)`,
  );
  const cc = median(compileCpu);
  const fc = median(fastCpu);
  console.log(
    `  CPU time: compile ${cc.toFixed(0)} ms, fast floor ${fc.toFixed(0)} ms, fast ratio ${(cc / fc).toFixed(2)} (medians; load average ${loadavg()[0]?.toFixed(1)})`,
  );
  console.log(
    JSON.stringify({
      node_templates: NODES,
      compile_ms: Math.round(c),
      parse_ms: Math.round(p),
      ratio: Number((c / p).toFixed(2)),
      fast_floor_ms: Math.round(f),
      fast_ratio: Number((c / f).toFixed(2)),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
