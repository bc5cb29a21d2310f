/**
 * Deploy: upload a TOSCA file or CSAR, fill in a form built from its input definitions,
 * follow the progress, see diagnostics as file:line:col.
 */
import {
  type DeployProgress,
  type Diagnostic,
  formatDiagnostic,
  type InputDefinition,
  inputDefinitions,
  isApiError,
  type JsonValue,
} from '@khutulun/api';
import { useState } from 'react';
import { parse as parseYaml } from 'yaml';
import { useApi, useLiveStore } from '../context.js';
import { serviceHref } from '../route.js';

interface Upload {
  filename: string;
  content: string;
  text: string | undefined;
}

async function readUpload(file: File): Promise<Upload> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const yaml = /\.ya?ml$/i.test(file.name);
  return {
    filename: file.name,
    content: btoa(binary),
    text: yaml ? new TextDecoder().decode(bytes) : undefined,
  };
}

/** Descriptions and `required` from the YAML itself (the compile output carries types and defaults). */
function yamlInputs(
  text: string | undefined,
): Map<string, { description?: string; required?: boolean; type?: string }> {
  const found = new Map<string, { description?: string; required?: boolean; type?: string }>();
  if (!text) return found;
  try {
    const doc = parseYaml(text) as {
      service_template?: { inputs?: Record<string, Record<string, unknown>> };
    };
    for (const [name, def] of Object.entries(doc?.service_template?.inputs ?? {})) {
      found.set(name, {
        ...(typeof def?.description === 'string' ? { description: def.description } : {}),
        ...(typeof def?.required === 'boolean' ? { required: def.required } : {}),
        ...(typeof def?.type === 'string' ? { type: def.type } : {}),
      });
    }
  } catch {
    // The agent's diagnostics say what is wrong with it.
  }
  return found;
}

function inputValue(def: InputDefinition, raw: string): JsonValue | undefined {
  if (raw === '') return undefined;
  const type = def.type ?? 'string';
  if (type === 'integer' || type === 'float') return Number(raw);
  if (type === 'boolean') return raw === 'true';
  if (type === 'string' || type.startsWith('scalar') || type === 'version' || type === 'timestamp')
    return raw;
  try {
    return JSON.parse(raw) as JsonValue;
  } catch {
    return raw;
  }
}

function initial(def: InputDefinition): string {
  if (def.default === undefined || def.default === null) return '';
  return typeof def.default === 'string' ? def.default : JSON.stringify(def.default);
}

export function DeployPage() {
  const api = useApi();
  const live = useLiveStore();
  const [upload, setUpload] = useState<Upload | undefined>();
  const [name, setName] = useState('');
  const [inputs, setInputs] = useState<InputDefinition[]>([]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [diagnostics, setDiagnostics] = useState<Diagnostic[]>([]);
  const [progress, setProgress] = useState<DeployProgress[]>([]);
  const [status, setStatus] = useState<
    { tone: 'ok' | 'bad' | 'busy'; text: string; service?: string } | undefined
  >();

  const choose = async (file: File | undefined) => {
    setDiagnostics([]);
    setProgress([]);
    setStatus(undefined);
    if (!file) return;
    const read = await readUpload(file);
    setUpload(read);
    const fromYaml = yamlInputs(read.text);
    let defs: InputDefinition[] = [];
    try {
      const compiled = await api.compile({
        source: { filename: read.filename, content: read.content },
      });
      defs = inputDefinitions(compiled.output);
      setDiagnostics(
        compiled.diagnostics.filter((d) => d.severity === 'error' && !/input/i.test(d.message)),
      );
    } catch (e) {
      setStatus({ tone: 'bad', text: (e as Error).message });
    }
    const names = new Set(defs.map((d) => d.name));
    for (const [n, y] of fromYaml)
      if (!names.has(n)) defs.push({ name: n, ...(y.type ? { type: y.type } : {}) });
    defs = defs.map((d) => ({
      ...fromYaml.get(d.name),
      ...d,
      ...(fromYaml.get(d.name)?.description
        ? { description: fromYaml.get(d.name)!.description }
        : {}),
    }));
    setInputs(defs);
    setValues(Object.fromEntries(defs.map((d) => [d.name, initial(d)])));
  };

  const deploy = async () => {
    if (!upload) return;
    setDiagnostics([]);
    setProgress([]);
    setStatus({ tone: 'busy', text: 'deploying…' });
    const given: Record<string, JsonValue> = {};
    for (const def of inputs) {
      const value = inputValue(def, values[def.name] ?? '');
      if (value !== undefined && values[def.name] !== initial(def)) given[def.name] = value;
    }
    try {
      const result = await api.deployWithProgress(
        {
          source: { filename: upload.filename, content: upload.content },
          inputs: given,
          ...(name.trim() ? { name: name.trim() } : {}),
        },
        (p) => setProgress((old) => [...old, p]),
      );
      setStatus({
        tone: 'ok',
        text: `deployed ${result.name}: ${result.state}`,
        service: result.name,
      });
      void live.reload();
    } catch (e) {
      if (isApiError(e)) {
        setDiagnostics(e.diagnostics);
        setStatus({ tone: 'bad', text: `${e.message} (${e.code})` });
      } else setStatus({ tone: 'bad', text: (e as Error).message });
    }
  };

  return (
    <>
      <h1>Deploy</h1>
      <section className="panel">
        <div className="form-row">
          <label htmlFor="deploy-file">TOSCA file or CSAR</label>
          <input
            id="deploy-file"
            data-testid="deploy-file"
            type="file"
            accept=".yaml,.yml,.csar,.zip,.tar.gz,.tgz"
            onChange={(e) => void choose(e.target.files?.[0])}
          />
        </div>
        <div className="form-row">
          <label htmlFor="deploy-name">
            Service name <small>default: the template's name</small>
          </label>
          <input
            id="deploy-name"
            data-testid="deploy-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </div>
        {inputs.length > 0 && <h2>Inputs</h2>}
        {inputs.map((def) => (
          <div className="form-row" key={def.name}>
            <label htmlFor={`input-${def.name}`}>
              {def.name}
              {def.required ? ' *' : ''} <small>{def.type ?? 'any'}</small>
            </label>
            <div>
              {def.type === 'boolean' ? (
                <input
                  id={`input-${def.name}`}
                  type="checkbox"
                  checked={values[def.name] === 'true'}
                  onChange={(e) => setValues({ ...values, [def.name]: String(e.target.checked) })}
                />
              ) : (
                <input
                  id={`input-${def.name}`}
                  data-testid={`input-${def.name}`}
                  type={def.type === 'integer' || def.type === 'float' ? 'number' : 'text'}
                  value={values[def.name] ?? ''}
                  onChange={(e) => setValues({ ...values, [def.name]: e.target.value })}
                  style={{ width: '100%' }}
                />
              )}
              {def.description && <small>{def.description}</small>}
            </div>
          </div>
        ))}
        <div className="toolbar">
          <button
            type="button"
            onClick={deploy}
            disabled={!upload || status?.tone === 'busy'}
            data-testid="deploy"
          >
            Deploy
          </button>
          {status && (
            <span className={`tone-${status.tone}`} data-testid="deploy-status">
              {status.text}
            </span>
          )}
          {status?.service && <a href={serviceHref(status.service)}>Open {status.service}</a>}
        </div>
        {diagnostics.length > 0 && (
          <ul className="diagnostics" data-testid="diagnostics">
            {diagnostics.map((d) => (
              <li key={`${d.file}:${d.line}:${d.column}:${d.code}:${d.message}`}>
                {formatDiagnostic(d)}
              </li>
            ))}
          </ul>
        )}
        {progress.length > 0 && (
          <ol className="progress" data-testid="progress">
            {progress.map((p, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: progress lines only grow
              <li key={i}>
                {p.step}
                {p.workload ? ` ${p.workload}` : ''}
                {p.state ? `: ${p.state}` : ''}
                {p.pid !== undefined ? ` (pid ${p.pid})` : ''}
                {p.message ? ` - ${p.message}` : ''}
              </li>
            ))}
          </ol>
        )}
      </section>
    </>
  );
}
