/** The researcher's requests with their live status. */
import * as React from 'react';

import type { RequestOut } from '../contract.gen';
import { currentObjects } from '../logic/actions';
import { StatusBadge } from './badges';

export function RequestsSection(props: {
  requests: RequestOut[];
  onOpen: (rid: string) => void;
  onReload: () => void;
}): JSX.Element {
  return (
    <section className="trevor-section">
      <div className="trevor-section-head">
        <h3>My requests</h3>
        <button className="trevor-link" onClick={props.onReload}>
          Refresh
        </button>
      </div>
      {props.requests.length === 0 && <p className="trevor-empty">No requests yet.</p>}
      <ul className="trevor-list">
        {props.requests.map(r => (
          <li key={r.id} className="trevor-request">
            <button className="trevor-link trevor-title" onClick={() => props.onOpen(r.id)}>
              {r.title}
            </button>
            <StatusBadge status={r.status} />
            <div className="trevor-sub">
              {r.project} · revision {r.revision} · {currentObjects(r.objects).length} object(s)
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
