/** The view of one request: its state, actions, feedback and objects (each an ObjectCard). */
import * as React from 'react';

import { api } from '../api';
import type { RequestOut } from '../contract.gen';
import { allowedActions, currentObjects, submitBlockers } from '../logic/actions';
import { agentResult, agentSummary, publicComments } from '../logic/feedback';
import type { Statbarn, TaggedOutput } from '../logic/types';
import { StatusBadge } from './badges';
import { formatBytes } from './format';
import { ObjectCard } from './ObjectCard';
import { ReviewSummary } from './ReviewSummary';
import type { Notify } from './useNotices';
import { useRequestDetail } from './useRequestDetail';
import { When } from './when';

export function RequestView(props: {
  rid: string;
  /** Changes whenever a live event says this request changed. */
  reloadSignal: number;
  outputs: TaggedOutput[];
  statbarns: Statbarn[] | null;
  notify: Notify;
  onBack: () => void;
  onChanged: (r: RequestOut) => void;
}): JSX.Element {
  const { rid, notify, onChanged } = props;
  const { req, setReq, feedback, release, reload: load } = useRequestDetail(rid, props.reloadSignal, notify, onChanged);
  const [busy, setBusy] = React.useState(false);
  // Objects whose description is missing, after a refused submit: their forms open with an error.
  const [mustDescribe, setMustDescribe] = React.useState<Set<string>>(new Set());

  if (!req) {
    return (
      <section className="trevor-section">
        <button className="trevor-link" onClick={props.onBack}>
          ← Back
        </button>
        <p>Loading…</p>
      </section>
    );
  }
  const actions = allowedActions(req);
  const blockers = submitBlockers(req);

  const act = async (action: 'submit' | 'withdraw' | 'resubmit') => {
    if (action === 'withdraw' && !window.confirm('Withdraw this request? This cannot be undone.')) {
      return;
    }
    if (action !== 'withdraw') {
      // Checkers cannot judge an output nobody described: refused here, before the backend.
      const undescribed = currentObjects(req.objects).filter(o => !(o.metadata.description ?? '').trim());
      setMustDescribe(new Set(undescribed.map(o => o.id)));
      if (undescribed.length > 0) {
        const names = undescribed.map(o => o.metadata.title || o.filename).join(', ');
        notify(`Describe every output for the output checkers before submitting: ${names}.`);
        return;
      }
    }
    setBusy(true);
    try {
      const r = await api.transition(rid, action);
      setReq(r);
      props.onChanged(r);
    } catch (e) {
      notify(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="trevor-section trevor-request-view">
      <button className="trevor-link" onClick={props.onBack}>
        ← All requests
      </button>
      <h3>
        {req.title} <StatusBadge status={req.status} />
      </h3>
      <div className="trevor-sub">
        {req.project} · revision {req.revision} · created by {req.created_by}
      </div>
      {req.description && <p>{req.description}</p>}

      <div className="trevor-actions">
        {actions.includes('submit') && (
          <button className="jp-mod-styled jp-mod-accept" disabled={busy} onClick={() => act('submit')}>
            Submit for review
          </button>
        )}
        {actions.includes('resubmit') && (
          <button className="jp-mod-styled jp-mod-accept" disabled={busy} onClick={() => act('resubmit')}>
            Resubmit
          </button>
        )}
        {actions.includes('download_release') && release?.url && (
          // Through the server extension: a TRE browser cannot reach the backend itself.
          <a
            className="jp-mod-styled jp-mod-accept trevor-download"
            href={api.releaseDownloadUrl(rid)}
            download={release.filename ?? true}
          >
            Download released package ({formatBytes(release.size)})
          </a>
        )}
        {actions.includes('download_release') && release?.url && (
          <span className="trevor-sub">
            {release.filename} · sha256 {release.sha256.slice(0, 12)}… ·{' '}
            {release.expires_at ? <When iso={release.expires_at} prefix="link expires" /> : 'link never expires'}
          </span>
        )}
        {actions.includes('download_release') && release && !release.url && (
          <span className="trevor-sub">The release link has expired; ask an administrator to refresh it.</span>
        )}
      </div>
      {(req.status === 'DRAFT' || req.status === 'CHANGES_REQUESTED') && blockers.length > 0 && (
        <ul className="trevor-blockers">
          {blockers.map(b => (
            <li key={b}>{b}</li>
          ))}
        </ul>
      )}
      {feedback.note.map(n => (
        <p key={n} className="trevor-sub">
          {n}
        </p>
      ))}
      {agentSummary(feedback.report) && (
        <p className="trevor-report">Automatic check: {agentSummary(feedback.report)}</p>
      )}
      <ReviewSummary reviews={feedback.reviews} />

      <ul className="trevor-list">
        {currentObjects(req.objects).map(o => (
          <ObjectCard
            key={o.id}
            rid={rid}
            obj={o}
            req={req}
            editable={actions.includes('edit_metadata')}
            outputs={props.outputs}
            statbarns={props.statbarns}
            comments={publicComments(feedback.reviews, o.id)}
            agent={agentResult(feedback.report, o.id)}
            mustDescribe={mustDescribe.has(o.id)}
            notify={notify}
            onChanged={load}
          />
        ))}
      </ul>
      {actions.includes('withdraw') && (
        // Apart from Submit, and confirmed: withdrawing cannot be undone.
        <div className="trevor-danger">
          <button className="jp-mod-styled jp-mod-warn" disabled={busy} onClick={() => act('withdraw')}>
            Withdraw request…
          </button>
        </div>
      )}
    </section>
  );
}
