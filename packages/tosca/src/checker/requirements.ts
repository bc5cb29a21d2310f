/**
 * Requirements and their fulfilment (TOSCA 2.0 8.7, 8.8, 14.3): each requirement assignment
 * matched to a target capability, at compile time when it can be, else by a run-time finder.
 */
import type { Value } from '@khutulun/floria';
import { GRAMMAR } from '../grammar.js';
import type { Unit } from '../loader.js';
import { foldExpression } from '../static-fold.js';
import type {
  CompiledCapability,
  CompiledRequirement,
  NodeTemplate,
  ToscaType,
} from '../tosca-model.js';

import { getEntry, toPlain, type YMap, type YNode } from '../yaml-tree.js';

import type { Checker } from './checker.js';
import { q } from './shared.js';

// ---------------------------------------------------------------- requirements

/** The requirements a substitution mapping exposes, as `node|requirement` (they need no target here). */
export function substitutionRequirementTargets(this: Checker, sm: YNode | undefined): Set<string> {
  const out = new Set<string>();
  if (sm?.kind !== 'map') return out;
  const reqs = getEntry(sm, 'requirements')?.value;
  const visit = (v: YNode): void => {
    const plain = toPlain(v);
    if (typeof plain === 'string') out.add(`${plain}|*`);
    if (
      Array.isArray(plain) &&
      plain.every((x) => Array.isArray(x) || typeof x === 'string') &&
      plain.some((x) => Array.isArray(x))
    ) {
      for (const item of (v as { items: YNode[] }).items) visit(item);
      return;
    }
    if (Array.isArray(plain) && typeof plain[0] === 'string' && typeof plain[1] === 'string')
      out.add(`${plain[0]}|${plain[1]}`);
    if (Array.isArray(plain) && typeof plain[0] === 'string' && plain.length === 1)
      out.add(`${plain[0]}|*`);
  };
  if (reqs?.kind === 'seq')
    for (const item of reqs.items)
      if (item.kind === 'map') for (const e of item.entries) visit(e.value);
  if (reqs?.kind === 'map') for (const e of reqs.entries) visit(e.value);
  return out;
}

/** Fulfils the requirements of a node template (8.7): each one's target capability, at compile time when known, else a run-time finder. */
export function fulfil(
  this: Checker,
  unit: Unit,
  nt: NodeTemplate,
  byName: Map<string, NodeTemplate>,
  relTemplates: Map<string, { type: ToscaType; node: YMap }>,
  mapped: Set<string>,
): void {
  const reqsNode = getEntry(nt.node, 'requirements')?.value;
  const list = reqsNode
    ? this.asList(reqsNode, `${nt.path}.requirements`, 'requirements (a list of single-entry maps)')
    : undefined;
  const counts = new Map<string, { total: number; mandatory: number; where: YNode }>();
  const selectable = nt.directives.includes('select') || nt.directives.includes('substitute');
  let index = 0;
  const items: Array<{ name: string; node: YNode; path: string; implicit?: boolean }> = [];
  list?.items.forEach((item, i) => {
    const p = `${nt.path}.requirements[${i}]`;
    const e = this.soleEntry(
      item,
      p,
      'TOSCA1010',
      'each requirement assignment must be a map with one entry (name: assignment)',
    );
    if (!e) return;
    items.push({
      name: String(e.key.value),
      node: e.value,
      path: `${p}${q(String(e.key.value))}`,
    });
  });
  for (const [rname, def] of nt.type.requirements) {
    if (!items.some((i) => i.name === rname) && def.countRange[0] > 0 && !selectable) {
      for (let i = 0; i < def.countRange[0]; i++)
        items.push({
          name: rname,
          node: def.node,
          path: `${nt.path}.requirements(implicit ${rname})`,
          implicit: true,
        });
    }
  }
  for (const item of items) {
    const def = nt.type.requirements.get(item.name);
    if (!def) {
      this.sink.error(
        'TOSCA1033',
        item.node,
        item.path,
        `node type "${nt.type.name}" has no requirement "${item.name}"`,
      );
      continue;
    }
    let targetName: string | undefined;
    let capName: string | undefined;
    let capType = def.capability?.type;
    let nodeType = def.nodeType;
    let relType = def.relationship;
    let relNode: YNode | undefined;
    let count = 1;
    let optional = false;
    // Whether `optional` was written: unwritten, a requirement whose count_range allows none
    // may go without a relationship (8.7.4).
    let optionalWritten = false;
    // The definition's node_filter and the assignment's: the latter is "applied in addition"
    // (8.7.2), never instead.
    const filters: YNode[] = def.nodeFilter ? [def.nodeFilter] : [];
    const allocation: Record<string, Value> = {};
    // internal: targets in this service; external: found at deployment (8.7.2), in order.
    let reqDirectives: string[] = [];
    const a = item.implicit ? undefined : item.node;
    if (a?.kind === 'scalar') {
      const s = this.str(a, item.path, 'requirement target');
      if (s === undefined) continue;
      targetName = s;
    } else if (a?.kind === 'seq') {
      // Short form [ node, index ]: a target node (the index selects among its instances).
      const first = a.items[0];
      if (a.items.length !== 2 || first?.kind !== 'scalar' || typeof first.value !== 'string') {
        this.sink.error(
          'TOSCA1010',
          a,
          item.path,
          'a requirement target list is [ node template, index ]',
        );
        continue;
      }
      targetName = first.value;
      this.expression(a.items[1] as YNode, `${item.path}[1]`, { unit, inValidation: true });
    } else if (a) {
      const m = this.asMap(a, item.path, `requirement "${item.name}"`);
      if (!m) continue;
      this.keys(
        m,
        GRAMMAR.requirement_assignment,
        item.path,
        `requirement assignment "${item.name}"`,
      );
      const n = getEntry(m, 'node')?.value;
      if (n?.kind === 'seq') {
        const first = n.items[0];
        if (first?.kind === 'scalar' && typeof first.value === 'string') targetName = first.value;
      } else if (n) targetName = this.str(n, `${item.path}.node`, 'node');
      const c = getEntry(m, 'capability')?.value;
      if (c) {
        const s = this.str(c, `${item.path}.capability`, 'capability');
        if (s !== undefined) {
          const ct = this.lookup(unit, 'capability', s);
          if (ct) {
            if (capType && !this.isA(ct, capType))
              this.sink.error(
                'TOSCA1022',
                c,
                `${item.path}.capability`,
                `capability type "${s}" does not derive from "${capType.name}"`,
              );
            capType = ct;
          } else capName = s;
        }
      }
      const r = getEntry(m, 'relationship')?.value;
      if (r) {
        relNode = r;
        if (r.kind === 'scalar') {
          const s = this.str(r, `${item.path}.relationship`, 'relationship');
          const rt = s !== undefined ? relTemplates.get(s) : undefined;
          if (rt) {
            // A relationship template: its type and its values.
            relType = rt.type;
            relNode = rt.node;
          } else if (s !== undefined) {
            const t = this.lookup(unit, 'relationship', s);
            if (t) relType = t;
            else
              this.sink.error(
                'TOSCA1020',
                r,
                `${item.path}.relationship`,
                `unknown relationship type or template "${s}"`,
              );
          }
        } else if (r.kind === 'map') {
          this.keys(
            r,
            GRAMMAR.relationship_assignment,
            `${item.path}.relationship`,
            'relationship assignment',
          );
          const tn = getEntry(r, 'type')?.value;
          if (tn) {
            const t = this.typeRef(
              unit,
              'relationship',
              tn,
              `${item.path}.relationship.type`,
              'type',
            );
            if (t) relType = t;
          }
        }
      }
      const cnt = getEntry(m, 'count')?.value;
      if (cnt) {
        const c = this.countValue(unit, cnt, `${item.path}.count`);
        if (c !== undefined) count = c;
        else if (c === undefined && this.functionName(cnt) === undefined)
          this.sink.error(
            'TOSCA1030',
            cnt,
            `${item.path}.count`,
            'count must be a non-negative integer',
          );
      }
      const opt = getEntry(m, 'optional')?.value;
      if (opt) {
        if (opt.kind === 'scalar' && typeof opt.value === 'boolean') {
          optional = opt.value;
          optionalWritten = true;
        } else
          this.sink.error(
            'TOSCA1030',
            opt,
            `${item.path}.optional`,
            'optional must be true or false',
          );
      }
      const nf = getEntry(m, 'node_filter')?.value;
      if (nf) {
        this.checkCondition(nf, unit, `${item.path}.node_filter`);
        filters.push(nf);
      }
      const alloc = getEntry(m, 'allocation')?.value;
      const allocMap = alloc
        ? this.asMap(alloc, `${item.path}.allocation`, 'allocation')
        : undefined;
      // Allocations name numeric properties of the target capability (8.7.5); the capacity
      // they draw on is counted when relationships are made, at instantiation.
      for (const e of allocMap?.entries ?? []) {
        const k = String(e.key.value);
        const p = `${item.path}.allocation${q(k)}`;
        // The text says a capability property; the specification's own example (s61)
        // allocates node properties. Both are accepted; anything else is a warning, as
        // the corpus holds such allocations valid.
        const def = capType?.props.get(k) ?? nodeType?.props.get(k);
        if (!def) {
          this.sink.report(
            'warning',
            'TOSCA1033',
            e.key,
            p,
            `no property "${k}" of the target capability${nodeType ? ' or node' : ''} to allocate from`,
          );
          continue;
        }
        const base = def.schema ? this.baseOf(def.schema.type) : undefined;
        if (base !== 'integer' && base !== 'float' && base !== 'scalar') {
          this.sink.error(
            'TOSCA1030',
            e.key,
            p,
            `only integer, float and scalar properties can be allocated; "${k}" is ${base ?? 'untyped'}`,
          );
          continue;
        }
        const v = def.schema ? this.value(e.value, def.schema, p, { unit }) : undefined;
        if (v?.kind === 'literal') allocation[k] = v.value;
      }
      reqDirectives = this.directives(
        getEntry(m, 'directives')?.value,
        `${item.path}.directives`,
        ['internal', 'external'],
        '8.7',
      ).filter((d) => d === 'internal' || d === 'external');
    }
    const filter = filters.length > 0 ? filters : undefined;
    if (!item.implicit) {
      const c = counts.get(item.name) ?? { total: 0, mandatory: 0, where: item.node };
      c.total += count;
      if (!optional) c.mandatory += count;
      counts.set(item.name, c);
    }
    // candidates
    // A capability may restrict which node types can target it (valid_source_node_types).
    const accepts = (c: CompiledCapability) =>
      (!c.validSources || c.validSources.some((v) => this.isA(nt.type, v))) &&
      (!c.directives || c.directives.includes('internal'));
    const matchCap = (n: NodeTemplate): string | undefined => {
      if (capName !== undefined) {
        const c = n.capabilities.get(capName);
        return c && (!capType || this.isA(c.type, capType)) && accepts(c) ? capName : undefined;
      }
      for (const [cn, c] of n.capabilities)
        if ((!capType || this.isA(c.type, capType)) && accepts(c)) return cn;
      return undefined;
    };
    let found: Array<{ n: NodeTemplate; cap: string | undefined }> = [];
    const named = targetName !== undefined ? byName.get(targetName) : undefined;
    const externalFirst = reqDirectives[0] === 'external';
    const internalOnly = reqDirectives.length > 0 && !reqDirectives.includes('external');
    if (externalFirst && !named) {
      // Looked for outside the service first: leave it to the finder.
      if (targetName !== undefined) nodeType = this.lookup(unit, 'node', targetName) ?? nodeType;
    } else if (named) {
      const cap = matchCap(named);
      if (cap !== undefined) found.push({ n: named, cap });
    } else {
      if (targetName !== undefined) {
        const t = this.lookup(unit, 'node', targetName);
        if (!t) {
          this.sink.error(
            'TOSCA1050',
            item.node,
            item.path,
            `requirement "${item.name}": no node template or node type "${targetName}"`,
          );
          continue;
        }
        nodeType = t;
      }
      // Only a node_filter needs every candidate; otherwise the first one is the target.
      // A filter needs every candidate, and so does spreading count > 1 over targets.
      const all = filter !== undefined || count > 1;
      for (const n of byName.values()) {
        if (n === nt || (nodeType && !this.isA(n.type, nodeType))) continue;
        const cap = matchCap(n);
        if (cap === undefined) continue;
        found.push({ n, cap });
        if (!all) break;
      }
    }
    // A node_filter decided at compile time selects among the candidates; one that needs
    // run-time values leaves the choice to a finder.
    let filterDecided = false;
    if (filter && targetName === undefined && found.length > 0) {
      const clauses = filterClauses(filter).map((c) =>
        this.expression(c, `${item.path}.node_filter`, { unit, inValidation: true }),
      );
      const verdicts = found.map(({ n }) => {
        let verdict: boolean | undefined = true;
        for (const c of clauses) {
          const r = c ? foldExpression(c, n, byName, undefined, this.inputs) : undefined;
          if (r?.kind !== 'literal' || typeof r.value !== 'boolean') verdict = undefined;
          else if (!r.value && verdict !== undefined) verdict = false;
        }
        return verdict;
      });
      if (verdicts.every((v) => v !== undefined)) {
        found = found.filter((_, i) => verdicts[i]);
        filterDecided = true;
      }
    }
    // A named target must pass the node_filter too (8.7.2, 8.8: "the TOSCA orchestrator
    // verifies that the specified node template fulfills the node filter"): checked here when
    // its clauses fold to literals, else by a finder limited to that template's nodes.
    let checkAtRunTime = false;
    const namedTarget = named && found[0]?.n === named ? found[0] : undefined;
    if (filter && namedTarget) {
      const verdict = this.namedFilterVerdict(item.name, nt, named as NodeTemplate, filter, {
        unit,
        path: `${item.path}.node_filter`,
        byName,
      });
      if (verdict === 'fails') continue;
      checkAtRunTime = verdict === 'run-time';
    }
    const req: CompiledRequirement = {
      name: item.name,
      index,
      node: item.node,
      properties: new Map(),
      attributes: new Map(),
      interfaces: {},
    };
    if (Object.keys(allocation).length > 0) req.allocation = allocation;
    if (optional || (!optionalWritten && def.countRange[0] === 0)) req.optional = true;
    if (relType) {
      req.relationship = relType;
      const assigned = this.relationshipAssignments(
        unit,
        relNode?.kind === 'map' ? relNode : undefined,
        relType,
        `${item.path}.relationship`,
      );
      req.properties = assigned.properties;
      req.attributes = assigned.attributes;
      req.interfaces = assigned.interfaces;
    }
    const chosen = found[0];
    let spread: typeof found = [];
    if (chosen && !checkAtRunTime && !(targetName === undefined && filter && !filterDecided)) {
      if (targetName !== undefined && byName.has(targetName) && !chosen.cap) continue;
      req.target = { node: chosen.n.name, capability: chosen.cap as string };
      const why = this.relationshipMismatch(
        relType,
        nt,
        chosen.n,
        chosen.n.capabilities.get(chosen.cap as string)?.type,
      );
      if (why) {
        this.sink.error('TOSCA1050', item.node, item.path, `requirement "${item.name}": ${why}`);
        continue;
      }
      // With count > 1 the occurrences go round the suitable candidates.
      spread = found.filter(
        (f) =>
          !this.relationshipMismatch(relType, nt, f.n, f.n.capabilities.get(f.cap as string)?.type),
      );
    } else if (chosen || filter) {
      const finder: Record<string, Value> = {};
      if (nodeType) finder.node_type = nodeType.canonical;
      if (capType) finder.capability_type = capType.canonical;
      if (capName) finder.capability = capName;
      if (checkAtRunTime && namedTarget) {
        finder.node_template = namedTarget.n.name;
        finder.capability = namedTarget.cap as string;
      }
      if (filter)
        finder.node_filter = this.embeddedFilter(filter, `${item.path}.node_filter`, unit);
      req.finder = finder;
    } else {
      const isMapped = mapped.has(`${nt.name}|${item.name}`) || mapped.has(`${nt.name}|*`);
      if (targetName !== undefined && byName.has(targetName)) {
        this.sink.error(
          'TOSCA1050',
          item.node,
          item.path,
          `requirement "${item.name}": ${this.whyNoCapability(byName.get(targetName) as NodeTemplate, nt, capName, capType)}`,
        );
        continue;
      }
      if (internalOnly && !optional) {
        this.sink.error(
          'TOSCA1050',
          item.node,
          item.path,
          `requirement "${item.name}" of "${nt.name}" must be fulfilled inside the service (directive internal), but no node template offers ${capName ? `capability "${capName}"` : `a capability of type "${capType?.name ?? '?'}"`}`,
        );
        continue;
      }
      if (!optional && !selectable && !isMapped && !externalFirst) {
        // Not fulfillable inside this service: a dangling requirement, left to a finder
        // that selects a target among what is deployed when the service is.
        this.sink.report(
          'warning',
          'TOSCA1050',
          item.node,
          item.path,
          `requirement "${item.name}" of "${nt.name}" cannot be fulfilled inside the service: no node template offers ${capName ? `capability "${capName}"` : `a capability of type "${capType?.name ?? '?'}"`}${nodeType ? ` on a node of type "${nodeType.name}"` : ''}; it will be looked for at deployment`,
        );
      }
      const finder: Record<string, Value> = {};
      if (nodeType) finder.node_type = nodeType.canonical;
      if (capType) finder.capability_type = capType.canonical;
      if (capName) finder.capability = capName;
      req.finder = finder;
      if (optional) continue;
    }
    for (let i = 0; i < Math.max(1, count); i++) {
      const t = spread[i % Math.max(1, spread.length)];
      const occurrence =
        t && req.target
          ? { ...req, index, target: { node: t.n.name, capability: t.cap as string } }
          : { ...req, index };
      nt.requirements.push(occurrence);
      index++;
    }
  }
  for (const [rname, c] of counts) {
    const def = nt.type.requirements.get(rname);
    if (!def) continue;
    const [lo, hi] = def.countRange;
    if (c.total > hi || c.mandatory > hi) {
      this.sink.error(
        'TOSCA1051',
        c.where,
        `${nt.path}.requirements`,
        `requirement "${rname}" is assigned ${c.total} times, more than its count_range allows (${hi})`,
      );
    } else if (c.mandatory < lo && c.total < lo) {
      this.sink.error(
        'TOSCA1051',
        c.where,
        `${nt.path}.requirements`,
        `requirement "${rname}" is assigned ${c.total} times, fewer than its count_range requires (${lo})`,
      );
    } else if (c.total < lo) {
      this.sink.error(
        'TOSCA1051',
        c.where,
        `${nt.path}.requirements`,
        `requirement "${rname}" is assigned ${c.total} times, fewer than its count_range requires (${lo})`,
      );
    }
  }
}

/** What forbids a relationship between these nodes and capability (valid_* lists), if anything. */
export function relationshipMismatch(
  this: Checker,
  rel: ToscaType | undefined,
  source: NodeTemplate,
  target: NodeTemplate,
  cap: ToscaType | undefined,
): string | undefined {
  const names = (ts: ToscaType[]) => ts.map((t) => `"${t.name}"`).join(', ');
  if (
    rel?.validCapabilityTypes?.length &&
    cap &&
    !rel.validCapabilityTypes.some((v) => this.isA(cap, v))
  )
    return `relationship type "${rel.name}" targets only capabilities of type ${names(rel.validCapabilityTypes)}, not "${cap.name}"`;
  if (rel?.validTargetNodeTypes && !rel.validTargetNodeTypes.some((v) => this.isA(target.type, v)))
    return `relationship type "${rel.name}" targets only nodes of type ${names(rel.validTargetNodeTypes)}, not "${target.type.name}"`;
  if (rel?.validSourceNodeTypes && !rel.validSourceNodeTypes.some((v) => this.isA(source.type, v)))
    return `relationship type "${rel.name}" starts only from nodes of type ${names(rel.validSourceNodeTypes)}, not "${source.type.name}"`;
  if (
    rel &&
    cap?.validRelationshipTypes &&
    !cap.validRelationshipTypes.some((v) => this.isA(rel, v))
  )
    return `capability type "${cap.name}" accepts only relationships of type ${names(cap.validRelationshipTypes)}, not "${rel.name}"`;
  return undefined;
}

/** Why a node template offers no capability a requirement of `source` can target. */
export function whyNoCapability(
  this: Checker,
  target: NodeTemplate,
  source: NodeTemplate,
  capName: string | undefined,
  capType: ToscaType | undefined,
): string {
  const candidates =
    capName !== undefined
      ? [target.capabilities.get(capName)].filter((c) => c !== undefined)
      : [...target.capabilities.values()];
  if (candidates.length === 0)
    return `node template "${target.name}" has no capability ${capName ? `"${capName}"` : 'at all'}`;
  const typed = candidates.filter((c) => !capType || this.isA(c.type, capType));
  if (typed.length === 0) {
    return capName !== undefined
      ? `capability "${capName}" of "${target.name}" is of type "${candidates[0]?.type.name}", not "${capType?.name}"`
      : `node template "${target.name}" has no capability of type "${capType?.name}"`;
  }
  const c = typed[0] as CompiledCapability;
  return `capability "${c.name}" of "${target.name}" accepts requirements only from nodes of type ${(c.validSources ?? []).map((t) => `"${t.name}"`).join(', ')} (valid_source_node_types), not "${source.type.name}"`;
}

/** The clauses a node_filter requires all of: its list items and `$and` operands, flattened. */
function filterClauses(filters: readonly YNode[]): YNode[] {
  const out: YNode[] = [];
  const visit = (n: YNode): void => {
    if (n.kind === 'seq') for (const item of n.items) visit(item);
    else if (n.kind === 'map' && n.entries.length === 1 && n.entries[0]?.key.value === '$and') {
      const operands = n.entries[0].value;
      if (operands.kind === 'seq') for (const item of operands.items) visit(item);
      else out.push(n);
    } else out.push(n);
  };
  for (const f of filters) visit(f);
  return out;
}

/** A clause as YAML flow text, short enough for a message. */
function clauseText(n: YNode): string {
  const flow = (v: unknown): string => {
    if (Array.isArray(v)) return `[ ${v.map(flow).join(', ')} ]`;
    if (v && typeof v === 'object')
      return `{ ${Object.entries(v)
        .map(([k, x]) => `${k}: ${flow(x)}`)
        .join(', ')} }`;
    if (typeof v === 'string' && /^[\w$ .:/-]*$/.test(v) && v.trim() === v && v !== '') return v;
    return JSON.stringify(v) ?? String(v);
  };
  const text = flow(toPlain(n)).replace(/^\{ (.*) \}$/, '$1');
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/**
 * Whether a node template named by a requirement passes the requirement's node_filter
 * (definition and assignment), as far as compile time knows: `passes`, `fails` (each false
 * clause reported, where it is written), or `run-time` (some clause needs run-time values).
 * A `select` template stands for a node chosen at deployment, so a filter on a requirement
 * naming it cannot be checked against that node: an error that says where the clauses go.
 */
export function namedFilterVerdict(
  this: Checker,
  requirement: string,
  source: NodeTemplate,
  target: NodeTemplate,
  filters: readonly YNode[],
  at: { unit: Unit; path: string; byName: Map<string, NodeTemplate> },
): 'passes' | 'fails' | 'run-time' {
  const clauses = filterClauses(filters);
  const related = [{ where: target.node, message: `node template "${target.name}"` }];
  if (target.directives.includes('select')) {
    this.sink.error(
      'TOSCA1050',
      clauses[0] ?? (filters[0] as YNode),
      at.path,
      `requirement "${requirement}" of "${source.name}" names node template "${target.name}", which selects an existing node at deployment (directives: [select]): the requirement's node_filter cannot be checked against the node it selects, so write its clauses in the node_filter of "${target.name}" (TOSCA 2.0 8.7.2, 8.8)`,
      related,
    );
    return 'fails';
  }
  let verdict: 'passes' | 'fails' | 'run-time' = 'passes';
  for (const clause of clauses) {
    const e = this.expression(clause, at.path, { unit: at.unit, inValidation: true });
    if (!e) continue;
    const fold = (x: typeof e) => foldExpression(x, target, at.byName, undefined, this.inputs);
    const r = fold(e);
    if (r.kind !== 'literal') {
      if (verdict === 'passes') verdict = 'run-time';
      continue;
    }
    if (r.value === true) continue;
    verdict = 'fails';
    const args = e.kind === 'call' ? e.arguments.map(fold) : [];
    const values =
      args.length > 0 && args.every((a) => a.kind === 'literal')
        ? ` (its arguments are ${args.map((a) => JSON.stringify((a as { value: Value }).value)).join(', ')})`
        : '';
    this.sink.error(
      'TOSCA1050',
      clause,
      at.path,
      `requirement "${requirement}" of "${source.name}": node template "${target.name}" does not pass the node_filter clause ${clauseText(clause)}${values}, so it cannot be the target (TOSCA 2.0 8.7.2, 8.8)`,
      related,
    );
  }
  return verdict;
}

/** Node filters (definition's and assignment's) kept for run time: one filter, or all their clauses in a list. */
export function embeddedFilter(
  this: Checker,
  filters: readonly YNode[],
  path: string,
  unit: Unit,
): Value {
  const parts = filters.map((f) => this.embedded(f, path, unit));
  if (parts.length === 1) return parts[0] as Value;
  return parts.flatMap((p) => (Array.isArray(p) ? p : [p]));
}
