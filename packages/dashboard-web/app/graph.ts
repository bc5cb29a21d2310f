/**
 * The service topology in cytoscape: workloads grouped by host (compound nodes), edges by
 * relationship type, colours by state. Built once per structure; state changes only restyle
 * the nodes they are about.
 */
import { type ServiceGraph, stateTone, type WorkloadItem } from '@khutulun/api';
import cytoscape, { type Core, type ElementDefinition } from 'cytoscape';
import fcose from 'cytoscape-fcose';

cytoscape.use(fcose);

/**
 * A layout that leaves the nodes where their definitions put them. cytoscape always runs a
 * layout on construction: `null` moves every node to (0, 0) and `preset` sets every position
 * a second time; this one only signals that the layout is done.
 */
function KeepLayout(this: { options: unknown }, options: unknown): void {
  this.options = options;
}
// A plain constructor: cytoscape calls it with `call`, which a class refuses.
KeepLayout.prototype.run = function run(this: { emit(event: string): void }) {
  this.emit('layoutstart');
  this.emit('layoutready');
  this.emit('layoutstop');
  return this;
};
cytoscape('layout', 'keep', KeepLayout);

/** Above this many nodes the layout is a computed grid per host (fcose takes seconds there). */
const FORCE_LAYOUT_LIMIT = 150;

/** The kind of line a relationship is drawn with. */
export type EdgeKind = 'depends' | 'connects' | 'attaches' | 'other';

/** A relationship type's short name (`ConnectsTo`) from an edge's classes. */
function relationshipType(classes: Array<{ name: string }>): string {
  const named = classes.map((c) => c.name).find((n) => n.startsWith('relationship:'));
  return named ? (named.split('/').pop() ?? named) : 'relationship';
}

function edgeKind(type: string): EdgeKind {
  if (/DependsOn/i.test(type)) return 'depends';
  if (/ConnectsTo/i.test(type)) return 'connects';
  if (/Attach|Link|Bind|Network/i.test(type)) return 'attaches';
  return 'other';
}

/** The cytoscape elements of a service's graph. */
export function graphElements(graph: ServiceGraph, workloads: WorkloadItem[]): ElementDefinition[] {
  const byName = new Map(workloads.map((w) => [w.name, w]));
  const parentOf = new Map<string, string>();
  const nodes = new Set<string>();
  const elements: ElementDefinition[] = [];
  const hosts = new Set<string>();
  for (const vertex of graph.vertexes) {
    if (vertex.parent) parentOf.set(vertex.id.name, vertex.parent.name);
  }
  for (const vertex of graph.vertexes) {
    if (vertex.metadata['tosca.entity'] !== 'node') continue;
    const name = vertex.id.name;
    const workload = byName.get(name);
    const type = vertex.metadata['tosca.type'] ?? '';
    nodes.add(name);
    if (workload) {
      hosts.add(workload.host);
      elements.push({
        group: 'nodes',
        data: {
          id: `w:${name}`,
          name,
          label: name,
          parent: `host:${workload.host}`,
          state: workload.state,
          tone: stateTone(workload.state),
          kind: workload.kind,
          type,
        },
        classes: 'workload',
      });
    } else {
      elements.push({
        group: 'nodes',
        data: { id: `w:${name}`, name, label: name, tone: 'idle', type },
        classes: /Network/i.test(type) ? 'network' : 'other',
      });
    }
  }
  for (const host of hosts) {
    elements.unshift({
      group: 'nodes',
      data: { id: `host:${host}`, label: host },
      classes: 'host',
    });
  }
  const top = (name: string): string | undefined => {
    let current: string | undefined = name;
    for (let depth = 0; current && !nodes.has(current) && depth < 8; depth++)
      current = parentOf.get(current);
    return current && nodes.has(current) ? current : undefined;
  };
  for (const edge of graph.edges) {
    const source = top(edge.source.name);
    const target = top(edge.target.name);
    if (!source || !target) continue;
    const type = relationshipType(edge.classes);
    elements.push({
      group: 'edges',
      data: { id: `e:${edge.id.name}`, source: `w:${source}`, target: `w:${target}`, label: type },
      classes: edgeKind(type),
    });
  }
  return elements;
}

function colours(): Record<string, string> {
  const css = getComputedStyle(document.documentElement);
  const get = (name: string) => css.getPropertyValue(name).trim() || '#888';
  return {
    ok: get('--ok'),
    busy: get('--busy'),
    bad: get('--bad'),
    idle: get('--idle'),
    text: get('--text'),
    border: get('--border'),
    panel: get('--panel'),
    muted: get('--muted'),
    accent: get('--accent'),
  };
}

/** The graph's style sheet, in the current theme's colours. */
export function graphStyle(large = false): cytoscape.StylesheetJson {
  const c = colours();
  if (large) return largeGraphStyle(c);
  return [
    {
      selector: 'node',
      style: {
        label: 'data(label)',
        color: c.text,
        'font-size': 11,
        'text-valign': 'bottom',
        'text-margin-y': 4,
        'min-zoomed-font-size': 7,
        width: 26,
        height: 26,
        'background-color': c.idle,
        'border-width': 2,
        'border-color': c.panel,
      },
    },
    { selector: 'node[tone = "ok"]', style: { 'background-color': c.ok } },
    { selector: 'node[tone = "busy"]', style: { 'background-color': c.busy } },
    { selector: 'node[tone = "bad"]', style: { 'background-color': c.bad } },
    // The kind shows in the shape: a process is a circle, a container a rounded square, a VM
    // (or any other kind) a hexagon.
    { selector: 'node.workload[kind != "process"]', style: { shape: 'hexagon' } },
    {
      selector: 'node.workload[kind = "podman"], node.workload[kind = "docker"]',
      style: { shape: 'round-rectangle' },
    },
    { selector: 'node.network', style: { shape: 'diamond', 'background-color': c.accent } },
    { selector: 'node.other', style: { shape: 'round-rectangle' } },
    {
      selector: 'node.host',
      style: {
        shape: 'round-rectangle',
        'background-opacity': 0.06,
        'background-color': c.accent,
        'border-color': c.border,
        'border-width': 1,
        'text-valign': 'top',
        'text-halign': 'center',
        'font-weight': 'bold',
        padding: '14px',
      },
    },
    { selector: 'node:selected', style: { 'border-color': c.accent, 'border-width': 4 } },
    {
      selector: 'edge',
      style: {
        width: 1.5,
        'curve-style': 'bezier',
        'target-arrow-shape': 'triangle',
        'line-color': c.muted,
        'target-arrow-color': c.muted,
        label: 'data(label)',
        'font-size': 9,
        color: c.muted,
        'min-zoomed-font-size': 8,
        'text-rotation': 'autorotate',
      },
    },
    { selector: 'edge.depends', style: { 'line-style': 'dashed' } },
    {
      selector: 'edge.attaches',
      style: { 'line-style': 'dotted', 'line-color': c.accent, 'target-arrow-color': c.accent },
    },
  ];
}

/**
 * The style of a large graph: the same colours and shapes, with fewer properties to apply to
 * each of thousands of elements (cytoscape computes every element's style before its first
 * frame). Thousands of bezier edges with arrows cost a frame each redraw: edges are straight,
 * arrowless (haystack), the cheapest cytoscape has. Node labels (measured for every node's
 * bounds even when too small to draw) show on hover and selection only; the list beside the
 * graph names every workload. Hosts are boxes behind their workloads (see hostGrid).
 */
function largeGraphStyle(c: Record<string, string>): cytoscape.StylesheetJson {
  return [
    {
      selector: 'node',
      style: { width: 26, height: 26, 'background-color': c.idle, 'border-width': 0, 'z-index': 2 },
    },
    { selector: 'node[tone = "ok"]', style: { 'background-color': c.ok } },
    { selector: 'node[tone = "busy"]', style: { 'background-color': c.busy } },
    { selector: 'node[tone = "bad"]', style: { 'background-color': c.bad } },
    { selector: 'node.workload[kind != "process"]', style: { shape: 'hexagon' } },
    {
      selector: 'node.workload[kind = "podman"], node.workload[kind = "docker"]',
      style: { shape: 'round-rectangle' },
    },
    { selector: 'node.network', style: { shape: 'diamond', 'background-color': c.accent } },
    { selector: 'node.other', style: { shape: 'round-rectangle' } },
    {
      selector: 'node.host',
      style: {
        label: 'data(label)',
        color: c.text,
        shape: 'round-rectangle',
        width: 'data(w)',
        height: 'data(h)',
        'z-index': 1,
        events: 'no',
        'background-opacity': 0.06,
        'background-color': c.accent,
        'border-color': c.border,
        'border-width': 1,
        'text-valign': 'top',
        'text-halign': 'center',
        'text-margin-y': -8,
        'font-size': 28,
        'font-weight': 'bold',
        padding: '14px',
      },
    },
    {
      selector: 'node.workload:selected, node.workload.hover, node.other.hover, node.network.hover',
      style: {
        label: 'data(label)',
        color: c.text,
        'font-size': 14,
        'min-zoomed-font-size': 7,
        'text-valign': 'bottom',
        'text-margin-y': 4,
        'z-index': 10,
      },
    },
    { selector: 'node:selected', style: { 'border-color': c.accent, 'border-width': 4 } },
    {
      selector: 'edge',
      style: {
        width: 1.5,
        'curve-style': 'haystack',
        'haystack-radius': 0,
        'line-color': c.muted,
      },
    },
    { selector: 'edge.depends', style: { 'line-style': 'dashed' } },
    { selector: 'edge.attaches', style: { 'line-style': 'dotted', 'line-color': c.accent } },
  ];
}

/**
 * The large-graph layout: a grid per host, hosts side by side, computed at once. Hosts are
 * drawn as boxes behind their workloads rather than as compound nodes: cytoscape recomputes
 * compound bounds on every redraw, which at a thousand children costs more than the rest of
 * the frame together.
 */
function hostGrid(elements: ElementDefinition[]): {
  elements: ElementDefinition[];
  positions: Record<string, { x: number; y: number }>;
  extent: Extent;
} {
  const byParent = new Map<string, string[]>();
  for (const e of elements) {
    if (e.group !== 'nodes' || e.classes === 'host') continue;
    const parent = (e.data.parent as string | undefined) ?? '';
    const ids = byParent.get(parent) ?? [];
    ids.push(e.data.id as string);
    byParent.set(parent, ids);
  }
  const positions: Record<string, { x: number; y: number }> = {};
  const boxes = new Map<string, { w: number; h: number }>();
  const spacing = 70;
  const gap = 160;
  // Hosts fill rows of a near-square grid, so the whole fits a landscape pane.
  const perRow = Math.max(1, Math.ceil(Math.sqrt(byParent.size)));
  let offsetX = 0;
  let offsetY = 0;
  let rowHeight = 0;
  let placed = 0;
  let right = 0;
  let bottom = 0;
  for (const [parent, ids] of byParent) {
    const columns = Math.max(1, Math.ceil(Math.sqrt(ids.length * 1.6)));
    const rows = Math.ceil(ids.length / columns);
    ids.forEach((id, i) => {
      positions[id] = {
        x: offsetX + (i % columns) * spacing,
        y: offsetY + Math.floor(i / columns) * spacing,
      };
    });
    const box = { w: columns * spacing, h: rows * spacing };
    if (parent) {
      boxes.set(parent, box);
      positions[parent] = {
        x: offsetX + box.w / 2 - spacing / 2,
        y: offsetY + box.h / 2 - spacing / 2,
      };
    }
    rowHeight = Math.max(rowHeight, box.h);
    right = Math.max(right, offsetX + box.w);
    bottom = Math.max(bottom, offsetY + box.h);
    offsetX += box.w + gap;
    if (++placed % perRow === 0) {
      offsetX = 0;
      offsetY += rowHeight + gap;
      rowHeight = 0;
    }
  }
  const flat = elements.map((e) => {
    if (e.group !== 'nodes') return e;
    if (e.classes === 'host') {
      const box = boxes.get(e.data.id as string) ?? { w: spacing, h: spacing };
      return { ...e, data: { ...e.data, w: box.w, h: box.h }, classes: 'host host-box' };
    }
    if (!e.data.parent) return e;
    const { parent, ...data } = e.data;
    return { ...e, data: { ...data, host: parent } };
  });
  // What cy.fit would measure (host boxes, their padding and their labels above), known
  // without asking cytoscape for every element's bounds, which costs a third of a second.
  const half = spacing / 2;
  const pad = 14 + 2;
  const extent = {
    x1: -half - pad,
    y1: -half - pad - (byParent.has('') && byParent.size === 1 ? 0 : 37),
    x2: right - half + pad,
    y2: bottom - half + pad,
  };
  return { elements: flat, positions, extent };
}

interface Extent {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** The zoom and pan that fit an extent to a container, as cy.fit(undefined, padding) does. */
function fitViewport(
  container: HTMLElement,
  extent: Extent,
  padding: number,
  minZoom: number,
  maxZoom: number,
): { zoom: number; pan: { x: number; y: number } } | undefined {
  const width = container.clientWidth;
  const height = container.clientHeight;
  const w = extent.x2 - extent.x1;
  const h = extent.y2 - extent.y1;
  if (!width || !height || w <= 0 || h <= 0) return undefined;
  const zoom = Math.min(
    maxZoom,
    Math.max(minZoom, Math.min((width - 2 * padding) / w, (height - 2 * padding) / h)),
  );
  return {
    zoom,
    pan: {
      x: (width - zoom * (extent.x1 + extent.x2)) / 2,
      y: (height - zoom * (extent.y1 + extent.y2)) / 2,
    },
  };
}

/**
 * cytoscape's canvas renderer keeps the scene in layered textures. On its first frame it
 * draws every element into those layers before drawing the layers (later frames queue that
 * work for idle time and draw the elements directly meanwhile): for a thousand nodes that
 * doubles the first frame. Marking the first frame as already past makes it draw directly.
 * This is a renderer internal (cytoscape 3.x); when it is absent nothing changes.
 */
function drawFirstFrameDirectly(cy: Core): void {
  const renderer = (cy as unknown as { renderer?: () => unknown }).renderer?.() as
    | { data?: { lyrTxrCache?: { firstGet?: boolean } } }
    | undefined;
  const layers = renderer?.data?.lyrTxrCache;
  if (layers && layers.firstGet === true) layers.firstGet = false;
}

export function createGraph(
  container: HTMLElement,
  elements: ElementDefinition[],
  onOpen: (name: string) => void,
  onReady: () => void,
): Core {
  const count = elements.filter((e) => e.group === 'nodes').length;
  const force = count <= FORCE_LAYOUT_LIMIT;
  const grid: ReturnType<typeof hostGrid> | { elements: ElementDefinition[]; extent?: undefined } =
    force ? { elements } : hostGrid(elements);
  const minZoom = 0.05;
  const maxZoom = 3;
  const viewport = grid.extent && fitViewport(container, grid.extent, 20, minZoom, maxZoom);
  // Positions go in with the elements: a preset layout would move every node a second time.
  const positions = 'positions' in grid ? grid.positions : undefined;
  const placed = !positions
    ? grid.elements
    : grid.elements.map((e) =>
        e.group === 'nodes'
          ? { ...e, position: positions[e.data.id as string] ?? { x: 0, y: 0 } }
          : e,
      );
  const cy = cytoscape({
    container,
    elements: placed,
    style: graphStyle(!force),
    wheelSensitivity: 0.3,
    textureOnViewport: !force,
    hideEdgesOnViewport: !force,
    minZoom,
    maxZoom,
    ...viewport,
    layout: force
      ? ({
          name: 'fcose',
          animate: false,
          randomize: true,
          nodeSeparation: 80,
          idealEdgeLength: 90,
          padding: 30,
        } as cytoscape.LayoutOptions)
      : ({ name: 'keep' } as unknown as cytoscape.LayoutOptions),
  });
  if (!force && !viewport) cy.fit(undefined, 20);
  if (!force) drawFirstFrameDirectly(cy);
  cy.on('tap', 'node.workload, node.other, node.network', (e) =>
    onOpen(e.target.data('name') as string),
  );
  cy.on('mouseover', 'node', (e) => e.target.addClass('hover'));
  cy.on('mouseout', 'node', (e) => e.target.removeClass('hover'));
  // A small graph fitted to a large pane is drawn huge: keep it at a readable size.
  if (cy.zoom() > 1.25) {
    cy.zoom(1.25);
    cy.center();
  }
  // Ready once laid out and painted: cytoscape draws in its next animation frame; a task
  // posted from a callback of that frame runs once the frame is painted.
  cy.ready(() =>
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => onReady();
      channel.port2.postMessage(null);
    }),
  );
  return cy;
}

/** Brings the nodes' states up to date; only changed nodes are restyled. */
export function updateStates(cy: Core, workloads: Iterable<WorkloadItem>): void {
  cy.batch(() => {
    for (const w of workloads) {
      const node = cy.getElementById(`w:${w.name}`);
      if (node.empty() || node.data('state') === w.state) continue;
      node.data({ state: w.state, tone: stateTone(w.state) });
    }
  });
}
