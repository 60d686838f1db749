import { useEffect, useState } from 'react';
import { host, keel, tenant, userToken } from './keel';

export function App() {
  const [log, setLog] = useState<string[]>([]);
  const note = (line: string) => setLog((l) => [...l, line]);

  // Nudges are drawn by Keel's engine, not by React: listen on the document. The cleanup matters:
  // StrictMode mounts, unmounts and mounts again, and without it every nudge would be logged twice.
  useEffect(() => {
    const shown = (e: GlobalEventHandlersEventMap['keel-nudge-shown']) => note(`nudge shown: ${e.detail.nudgeId}`);
    document.addEventListener('keel-nudge-shown', shown);
    return () => document.removeEventListener('keel-nudge-shown', shown);
  }, []);

  return (
    <>
      <header>
        <nav aria-label="Main">
          <a href="/reports" data-keel="reports-nav">
            Reports
          </a>
        </nav>
        <keel-health-badge host={host} tenant={tenant} token={userToken} onkeel-health-open={() => note('health opened')} />
      </header>
      <main>
        <button type="button" onClick={() => keel.track('feature.used', { feature: 'dataset.ingest' })}>
          Ingest a dataset
        </button>
        <keel-checklist checklist-id="onboarding" source={keel} onkeel-item-completed={(e) => note(`item completed: ${e.detail.itemId}`)} />
        <ul aria-label="What happened">
          {log.map((line, i) => (
            <li key={i}>{line}</li>
          ))}
        </ul>
      </main>
    </>
  );
}
