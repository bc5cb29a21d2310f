/** The dashboard's entry: the live state, the hash router and the page frame. */
import { ApiClient, LiveView } from '@khutulun/api';
import { lazy, StrictMode, Suspense, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { AppContext, useLive } from './context.js';
import { EventsPage } from './pages/events.js';
import { OverviewPage } from './pages/overview.js';
import { ServicePage } from './pages/service.js';
import { navigate, parseRoute, type Route } from './route.js';
import { Theme } from './theme.js';
import { isTyping } from './widgets.js';
import './styles.css';

// The pages with the big libraries (xterm.js, the YAML parser) load when first opened, so the
// overview and the graph do not wait for them.
const WorkloadPage = lazy(() =>
  import('./pages/workload.js').then((m) => ({ default: m.WorkloadPage })),
);
const ServiceLogsPage = lazy(() =>
  import('./pages/service-logs.js').then((m) => ({ default: m.ServiceLogsPage })),
);
const DeployPage = lazy(() => import('./pages/deploy.js').then((m) => ({ default: m.DeployPage })));

const api = new ApiClient({ baseUrl: '' });
const live = new LiveView(api);
performance.mark('khutulun:script-start');
void live.start().then(() => performance.mark('khutulun:live-loaded'));

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  return route;
}

/** Global keys: 1-3 switch pages (when not typing in a field). */
function useGlobalKeys(): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      const target = { '1': '#/', '2': '#/events', '3': '#/deploy' }[e.key];
      if (target) {
        e.preventDefault();
        navigate(target);
      }
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);
}

function Connection() {
  const { connected, error } = useLive();
  if (error) return <span className="conn tone-bad">error: {error}</span>;
  return (
    <span className={`conn ${connected ? 'tone-ok' : 'tone-busy'}`} data-testid="connection">
      {connected ? '● live' : '○ connecting…'}
    </span>
  );
}

function App() {
  const route = useRoute();
  useGlobalKeys();
  const section =
    route.page === 'workload' || route.page === 'service' || route.page === 'service-logs'
      ? 'overview'
      : route.page;
  const link = (href: string, label: string, name: string, key: string) => (
    <a href={href} aria-current={section === name ? 'page' : undefined} title={`${label} (${key})`}>
      {label}
    </a>
  );
  return (
    <div className="app">
      <header className="top">
        <span className="brand">Khutulun</span>
        <nav aria-label="Pages">
          {link('#/', 'Overview', 'overview', '1')}
          {link('#/events', 'Events', 'events', '2')}
          {link('#/deploy', 'Deploy', 'deploy', '3')}
        </nav>
        <span className="spacer" />
        <Connection />
        <Theme />
      </header>
      <main>
        <Suspense fallback={<p className="muted">Loading…</p>}>
          {route.page === 'overview' && <OverviewPage />}
          {route.page === 'service' && <ServicePage service={route.service} />}
          {route.page === 'service-logs' && <ServiceLogsPage service={route.service} />}
          {route.page === 'workload' && (
            <WorkloadPage service={route.service} name={route.name} tab={route.tab} />
          )}
          {route.page === 'events' && <EventsPage />}
          {route.page === 'deploy' && <DeployPage />}
        </Suspense>
      </main>
    </div>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <AppContext.Provider value={{ api, live }}>
      <App />
    </AppContext.Provider>
  </StrictMode>,
);
