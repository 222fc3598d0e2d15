/** The inbox of delivered ingress files, and checking for new deliveries. */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import * as React from 'react';

import { api } from '../api';
import type { InboxFile } from '../logic/types';
import type { Notify } from './useNotices';

export function InboxSection(props: {
  app: JupyterFrontEnd;
  files: InboxFile[];
  backend: boolean;
  notify: Notify;
  onFiles: (f: InboxFile[]) => void;
  onReload: () => void;
}): JSX.Element {
  const [busy, setBusy] = React.useState(false);
  const check = async () => {
    setBusy(true);
    try {
      const r = await api.deliverInbox();
      props.onFiles(r.items);
      const delivered = r.results.filter(x => x.status === 'delivered').length;
      const problems = r.results.filter(x => x.status === 'rejected' || x.status === 'failed');
      for (const p of problems) {
        props.notify(`Delivery of ${p.filename} ${p.status}: ${p.detail ?? ''}`);
      }
      props.notify(delivered ? `${delivered} file(s) delivered.` : 'No new deliveries.', 'info');
    } catch (e) {
      props.notify(e);
    } finally {
      setBusy(false);
    }
  };
  const open = (path: string) => {
    props.app.commands.execute('filebrowser:go-to-path', { path }).catch(props.notify);
  };
  return (
    <section className="trevor-section">
      <div className="trevor-section-head">
        <h3>Inbox</h3>
        {props.backend && (
          <button className="trevor-link" disabled={busy} onClick={check}>
            Check for deliveries
          </button>
        )}
      </div>
      {props.files.length === 0 && <p className="trevor-empty">No delivered files.</p>}
      <ul className="trevor-list">
        {props.files.map(f => (
          <li key={f.path}>
            <button className="trevor-link" onClick={() => open(f.path)} title={f.path}>
              {f.filename}
            </button>
            <span className="trevor-sub">
              {' '}
              · request {f.request_id} · {f.size} bytes
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
