/** The lines `service deploy --wait` prints on stderr while the agent works. */

import type { DeployProgress } from '@khutulun/api';

/** A `progress` message of the deploy stream: the API's own type. */
export type { DeployProgress };

/** One human line for a progress message, e.g. `hello: server running (pid 4242)`. */
export function progressLine(p: DeployProgress): string {
  const subject = p.workload ? `${p.service ?? ''}/${p.workload}` : (p.service ?? '');
  const facts: string[] = [];
  if (p.pid !== undefined) facts.push(`pid ${p.pid}`);
  if (p.ports && Object.keys(p.ports).length > 0) {
    facts.push(
      Object.entries(p.ports)
        .map(([name, port]) => `${name} ${port}`)
        .join(', '),
    );
  } else if (p.port !== undefined) facts.push(`port ${p.port}`);
  const what = [p.step, p.state && p.state !== p.step ? p.state : undefined]
    .filter(Boolean)
    .join(': ');
  const tail = facts.length > 0 ? ` (${facts.join(', ')})` : '';
  const message = p.message ? ` - ${p.message}` : '';
  return `${subject ? `${subject} ` : ''}${what || 'progress'}${tail}${message}`;
}
